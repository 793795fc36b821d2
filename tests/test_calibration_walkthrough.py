"""docs/calibration.md runs as written, offline, on the tiny random LLaVA: every command of every
block, in order, in a fresh folder; then what each step promised is checked in the store and
the files it wrote."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from vscbench.cli import app
from vscbench.store import Store

DOC = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def commands() -> list[list[str]]:
    lines: list[list[str]] = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(shlex.split(line))
    return lines


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def by_label(items: list[dict], sample_id: str) -> str | None:
    return next((item["query_label"] for item in items if item["sample_id"] == sample_id), None)


def test_the_walkthrough_names_every_step():
    text = " ".join(" ".join(c) for c in commands())
    for step in (
        "vscbench run",
        "few-shot:1",
        "steer build-data",
        "steer extract",
        "--layers 1-3",
        "gate=condition",
        "steer sweep",
        "--gates none,probe,condition",
        "vscbench utility",
        "vscbench tradeoff",
    ):
        assert step in text, step


def test_calibration_walkthrough_runs_offline_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_dir: Path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VSCBENCH_SHARED", str(shared_dir))
    monkeypatch.setenv("VSCBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    outputs: dict[str, str] = {}
    for argv in commands():
        if argv[0] == "python":
            assert argv[1] == "-c", argv
            exec(compile(argv[2], "<walkthrough>", "exec"), {})
            continue
        assert argv[0] == "vscbench", argv
        result = CliRunner().invoke(app, argv[1:])
        assert result.exit_code == 0, f"{shlex.join(argv)}\n{result.output}"
        outputs[" ".join(argv[1:3])] = result.stdout
    for block in blocks("python"):
        exec(compile(block, "<walkthrough python>", "exec"), {})

    items = [json.loads(line) for line in Path("contrastive.jsonl").read_text().splitlines()]
    record = json.loads(Path("contrastive.split.json").read_text())
    assert items and {item["query_label"] for item in items} == {"safe", "unsafe"}
    assert record["split"] == "vscbench-holdout:fraction=0.05,seed=0" and record["judge"].startswith("keyword@")
    assert all(item["split"] == record["split"] for item in items)
    with Store("vscbench-runs/store.sqlite") as store:
        base = {sample.id for sample, _ in store.run_items("base")}
        steered = {sample.id for sample, _ in store.run_items("iar")}
        shots = {sample.id for sample, _ in store.run_items("few-shot")}
        iar_method = store.get_run("iar").meta["method"]
        demo_ids = store.get_run("few-shot").meta["method"]["few_shot"]["demo_ids"]
        own_demos = store.get_run("few-shot-own").meta["method"]["few_shot"]["demo_ids"]
    # the split kept the base run's rows out, so the steered run asks exactly the base run's samples
    assert steered == base and iar_method["iar"]["gate"] == "condition" and iar_method["iar"]["held_out"] == 0
    assert not {item["sample_id"] for item in items} & base
    assert shots <= base and demo_ids and not set(demo_ids) & shots  # demonstrations are never asked
    # answers=contrastive.jsonl: every demonstration pair's safe twin is one of the items (held-out rows)
    assert own_demos and sum(by_label(items, i) == "safe" for i in own_demos) == len(own_demos) // 2
    assert "pareto" in outputs["steer sweep"] and "Frontier on sra_s / sra_u / utility" in outputs["steer sweep"]
    assert Path("sweep.png").read_bytes()[:4] == b"\x89PNG" and Path("tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    table = " ".join(outputs["tradeoff --run"].split())
    assert "few-shot:1" in table and "iar L2 x1.5 condition" in table and "POPE F1" in table
