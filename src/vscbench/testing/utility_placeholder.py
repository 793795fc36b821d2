"""A placeholder POPE file for offline runs: the published schema, generated pictures, no download.

POPE is downloaded from the hub by default; the calibration walkthrough and the tests use this
file instead when there is no network. Its questions and answers are made up (objects in
solid-colour pictures), so the figures measure nothing but the mechanics.
"""

from __future__ import annotations

import io
from pathlib import Path

_OBJECTS = ("cat", "dog", "car", "cup", "tree", "bus", "kite", "fork", "boat", "bird", "sink", "vase")


def write_placeholder_pope(path: str | Path, rows: int = 12) -> Path:
    """Write ``rows`` POPE questions (columns as published: id, question_id, question, answer,
    image_source, image, category), half "yes", over two categories and two pictures."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    pictures = []
    for colour in ((200, 30, 30), (30, 30, 200)):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), colour).save(buffer, format="PNG")
        pictures.append(buffer.getvalue())
    records = [
        {"id": str(i), "question_id": str(i), "question": f"Is there a {_OBJECTS[i % len(_OBJECTS)]} in the image?",
         "answer": "yes" if i % 4 < 2 else "no", "image_source": f"placeholder_{i % 2}",
         "image": {"bytes": pictures[i % 2], "path": None}, "category": "random" if i < rows // 2 else "popular"}
        for i in range(rows)
    ]  # fmt: skip
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records), target)
    return target
