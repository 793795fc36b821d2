"""Bounded image decoding (issue 11): bombs, truncated and foreign files are refused per image,
with an error that names the file, before anything is decoded in full or sent anywhere."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from hostile import release_row, tiny_release, write_bomb_png, write_truncated_png
from vscbench import images
from vscbench.benchmarks.check import check_release
from vscbench.images import ImageError, load_rgb, prepared_bytes
from vscbench.models.base import ModelSpec
from vscbench.models.openai import OpenAIModel
from vscbench.schema import GenerationConfig, Message, Request

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    return write_bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png")


def test_bomb_is_small_on_disk_and_huge_decoded(bomb: Path) -> None:
    with Image.open(bomb) as opened:  # the header alone: nothing decoded
        assert opened.size == (20000, 20000) and opened.format == "PNG"
    assert bomb.stat().st_size < 2_000_000


@pytest.mark.parametrize("read", [prepared_bytes, load_rgb, images.verify_image])
def test_bomb_is_refused_naming_the_file(bomb: Path, read) -> None:
    with pytest.raises(ImageError) as caught:
        read(bomb)
    message = str(caught.value)
    assert str(bomb) in message and "20000x20000" in message and "BytesIO" not in message


def test_bomb_is_refused_in_bounded_memory(bomb: Path) -> None:
    """Peak RSS of a process that meets the bomb through every entry point stays small."""
    script = (
        "import json, resource, sys\n"
        "from vscbench.images import ImageError, load_rgb, prepared_bytes, verify_image\n"
        "from vscbench.benchmarks.check import decode_error\n"
        "refused = 0\n"
        "for read in (prepared_bytes, load_rgb, verify_image):\n"
        "    try:\n"
        "        read(sys.argv[1])\n"
        "    except ImageError:\n"
        "        refused += 1\n"
        "refused += decode_error(__import__('pathlib').Path(sys.argv[1])) is not None\n"
        "try:  # this process's own peak (ru_maxrss would carry over the parent's peak across exec)\n"
        "    peak = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
        "except OSError:\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'refused': refused, 'rss_kb': peak}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["refused"] == 4
    assert result["rss_kb"] < 400_000, result  # decoding it would take 1.2 GB


def test_foreign_file_error_names_the_file_not_a_buffer(tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"these are notes, not pixels")
    for read in (prepared_bytes, load_rgb):
        with pytest.raises(ImageError, match="notes.png") as caught:
            read(fake)
        assert "BytesIO" not in str(caught.value)


def test_truncated_png_is_not_sent_byte_for_byte(tmp_path: Path) -> None:
    cut = write_truncated_png(tmp_path / "cut.png")
    with Image.open(cut) as opened:  # the header is intact: it looks like a small RGB PNG
        assert opened.mode == "RGB" and max(opened.size) <= 1024
    with pytest.raises(ImageError, match=r"cut\.png.*truncated"):
        prepared_bytes(cut)
    assert images.verify_image(write_truncated_png(tmp_path / "whole.png", keep=1.0)) is None


def test_big_jpeg_is_decoded_at_reduced_scale_not_refused(tmp_path: Path, monkeypatch) -> None:
    """The pixel limit applies to what is decoded: a JPEG over it still loads through draft mode."""
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 1_100_000)
    jpeg, png = tmp_path / "big.jpg", tmp_path / "big.png"
    Image.new("RGB", (2000, 2000), "teal").save(jpeg, quality=80)
    Image.new("RGB", (2000, 2000), "teal").save(png)
    assert max(load_rgb(jpeg, max_side=512).size) == 512
    with pytest.raises(ImageError, match=r"big\.png.*2000x2000"):
        load_rgb(png, max_side=512)


def test_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "noise.png"
    write_truncated_png(path, size=(200, 200), keep=1.0)
    with pytest.raises(ImageError, match=r"noise\.png.*bytes"):
        prepared_bytes(path)


def test_data_check_names_bomb_and_truncated_images(tmp_path: Path, bomb: Path) -> None:
    buffer = io.BytesIO()
    write_truncated_png(tmp_path / "cut.png")
    root = tiny_release(
        tmp_path / "release",
        [release_row()],
        {
            "vscbench_image_centric_images/drugs/safe_0.png": bomb.read_bytes(),
            "vscbench_image_centric_images/drugs/unsafe_1.png": (tmp_path / "cut.png").read_bytes(),
        },
    )
    del buffer
    report = check_release(root)
    found = {(f.kind, f.column): f.detail for f in report.defects}
    assert set(found) == {("undecodable_image", "safe_img_0"), ("undecodable_image", "unsafe_img_1")}
    assert "safe_0.png" in found[("undecodable_image", "safe_img_0")]
    assert "20000x20000" in found[("undecodable_image", "safe_img_0")]
    assert "truncated" in found[("undecodable_image", "unsafe_img_1")]
    assert report.load.unusable == {
        "image_centric/r2/safe/slot_0": "image does not decode",
        "image_centric/r2/unsafe/slot_1": "image does not decode",
    }


@pytest.mark.parametrize("kind", ["bomb", "truncated"])
async def test_openai_backend_refuses_the_image_per_request_without_sending(tmp_path, bomb, kind) -> None:
    from fake_openai import FakeOpenAI

    path = bomb if kind == "bomb" else write_truncated_png(tmp_path / "cut.png")
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16), "navy").save(good)
    with FakeOpenAI() as fake:
        model = OpenAIModel(ModelSpec("openai", "fake-model", fake.base_url), max_retries=0)
        requests = [
            Request(sample_id=name, messages=[Message.user("What is this?", image)], config=GenerationConfig())
            for name, image in (("bad", path), ("good", good))
        ]
        bad, fine = [(await model.generate([r]))[0] for r in requests]
        await model.aclose()
        assert bad.outcome == "error" and path.name in bad.error and "BytesIO" not in bad.error
        assert fine.outcome == "ok"
        assert len(fake.completions()) == 1  # only the good image was sent
