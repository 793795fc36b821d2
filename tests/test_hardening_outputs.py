"""Outputs that must not be lost (issue 29): `report` and `runs export` write a temporary file and
rename it, so a disk that fills up mid-write leaves a one-line error and the previous good file
as it was; `report` works on a store it may only read (it wrote image hashes back there)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vscbench.engine.runner import run_samples_sync
from vscbench.judges.offline import OfflineJudge
from vscbench.judges.runs import judge_run
from vscbench.models.base import Generation, ModelSpec
from vscbench.report.build import write_store_report
from vscbench.schema import Request, Sample
from vscbench.store import Store


class LongAnswers:
    """A backend whose answers are long enough that the outputs pass the file-size limit."""

    max_batch_size = 1
    spec = ModelSpec("scripted", "long")

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return [Generation("ok", text=f"Here is how, step by step. {'Details follow. ' * 400}") for _ in requests]

    async def aclose(self) -> None:
        pass


@pytest.fixture(scope="module")
def store(tmp_path_factory, release_template: Path) -> Path:
    from vscbench.benchmarks.samples import load_samples

    path = tmp_path_factory.mktemp("outputs") / "runs.sqlite"
    samples: list[Sample] = [s for s in load_samples(release_template, subset="image_centric", warn=False).samples][:60]
    with Store(path) as opened:
        run_samples_sync(LongAnswers(), samples, opened, run_name="r")
        judge_run(opened, "r", OfflineJudge())
    return path


#: The CLI with a limit on the size of any file it writes (as a full disk does, mid-write).
FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails with EFBIG
    limit = int(sys.argv.pop(1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from vscbench.cli import main
    sys.argv[0] = "vscbench"
    main()
    """
)


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["runs", "export", "r", "--format", "jsonl"], "r.jsonl"),
        (["runs", "export", "r", "--format", "csv"], "r.csv"),
        (["report", "--run", "r", "--no-thumbnails"], "r.html"),
    ],
    ids=["export-jsonl", "export-csv", "report"],
)
def test_a_full_disk_leaves_the_previous_file_and_one_line(store: Path, tmp_path: Path, command, name) -> None:
    out = tmp_path / name
    out.write_text("the previous good file\n")
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(64 * 1024), *command, "--out", str(out), "--store", str(store)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode in (1, 2), output[-2000:]
    assert "Traceback" not in output and str(out.name) in output, output[-2000:]
    assert len(output.strip().splitlines()) <= 3, output
    assert out.read_text() == "the previous good file\n"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_outputs_are_complete_when_the_disk_has_room(store: Path, tmp_path: Path) -> None:
    for command, name in ((["runs", "export", "r"], "r.jsonl"), (["report", "--run", "r"], "r.html")):
        out = tmp_path / name
        out.write_text("old")
        done = subprocess.run([sys.executable, "-c", FULL_DISK, str(2**30), *command, "--out", str(out), "--store",
                               str(store)], capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert out.stat().st_size > 64 * 1024 and out.read_text(encoding="utf-8").rstrip().endswith(
            "</html>" if name.endswith("html") else "}"
        )


def test_report_works_on_a_store_it_may_only_read(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(store.read_bytes())
    with Store(copy, read_only=True) as read_only:
        before = read_only.image_hashes()
        result = write_store_report(read_only, tmp_path / "r.html", ["r"])
    assert result.path.is_file() and result.thumbnails > 0
    assert not (tmp_path / "thumbnails").exists()  # nothing written beside a store that may only be read
    with Store(copy) as reopened:
        assert reopened.image_hashes() == before
