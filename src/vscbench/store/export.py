"""A stored run as flat rows: JSONL or CSV with one row per sample (response and verdicts)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vscbench.locations import replaced_atomically
from vscbench.safe_text import csv_row
from vscbench.store.runs import Runs
from vscbench.store.verdicts import Verdicts


class Exports:
    """A run's samples, responses and verdicts, read through the runs and verdicts tables."""

    def __init__(self, runs: Runs, verdicts: Verdicts) -> None:
        self.runs = runs
        self.verdicts = verdicts

    def rows(self, run: str) -> Iterator[dict[str, Any]]:
        """One flat record per sample of a run: the sample, its response and every verdict."""
        verdicts = {judge: self.verdicts.get(judge, run) for judge in self.verdicts.judges()}
        for sample, response in self.runs.items(run):
            row: dict[str, Any] = {
                "run": run, "sample_id": sample.id, "subset": sample.subset, "category": sample.category,
                "variant": sample.variant, "label": sample.label, "prompt": sample.prompt,
                "image_path": str(sample.image_path) if sample.image_path else None, "pair_key": sample.pair_key,
            }  # fmt: skip
            if response is None:
                row.update(response_key=None, model=None, outcome="missing", text=None, error=None)
            else:
                row.update(
                    response_key=response.key, model=response.model, outcome=response.outcome, text=response.text,
                    error=response.error, prompt_tokens=response.usage.prompt_tokens,
                    completion_tokens=response.usage.completion_tokens, latency_s=response.latency_s,
                    attempts=response.attempts,
                )  # fmt: skip
            for judge, by_key in verdicts.items():
                verdict = by_key.get(row["response_key"])
                row[f"verdict:{judge}"] = verdict.label if verdict else None
            yield row

    def write(self, run: str, out: str | Path, format: str = "jsonl") -> int:
        """Write a run to a JSONL or CSV file; returns the number of rows. Raises
        :class:`~vscbench.locations.OutputError` when the file cannot be written (the previous
        file at ``out`` is then left as it was)."""
        if self.runs.get(run) is None:
            raise KeyError(run)
        if format not in ("jsonl", "csv"):
            raise ValueError(f"unknown export format {format!r}; use jsonl or csv")
        rows = list(self.rows(run))
        out_path = Path(out)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        # written whole or not at all: a full disk leaves the previous export as it was
        with replaced_atomically(out_path, "w", encoding="utf-8", newline="") as handle:
            if format == "jsonl":
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                columns = list(dict.fromkeys(column for row in rows for column in row))
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(csv_row(row) for row in rows)  # no cell runs as a spreadsheet formula
        return len(rows)
