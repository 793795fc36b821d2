"""`vscbench quickstart`: the main job end to end, offline with a tiny VLM, and from a fresh
folder with the metadata served by a local HTTP server."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.judges.offline import OfflineJudge
from vscbench.workflows.quickstart import LLM_JUDGE_WHEN_KEYED, default_judge

runner = CliRunner()


def test_quickstart_offline_with_a_tiny_vlm(
    tmp_path: Path, release_template: Path, tiny_llava_dir: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = ["quickstart", "--model", f"hf:{tiny_llava_dir}", "--data", str(release_template),
            "--limit", "12", "--max-tokens", "6", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["judge"] == f"offline@v{OfflineJudge.version}"
    assert payload["provenance"]["judge"]["name"] == "offline" and payload["provenance"]["rule"] == "paper"
    assert payload["overall"]["n"] + sum(f["count"] for f in payload["failures"].values()) == 12
    assert {"image_centric", "text_centric"} == set(payload["by_subset"])
    assert (tmp_path / "vscbench-report.html").is_file()
    assert (tmp_path / "vscbench-runs" / "store.sqlite").is_file()

    # a second run answers everything from the store
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["overall"] == payload["overall"]


def test_quickstart_from_a_fresh_folder(tmp_path: Path, shared_dir: Path, monkeypatch) -> None:
    served = tmp_path / "served"
    served.mkdir()
    for name in ("vscbench_image_centric.xlsx", "vscbench_text_centric.xlsx"):
        shutil.copyfile(shared_dir / name, served / name)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("VSCBENCH_IMAGE_CENTRIC_URL", f"{base}/vscbench_image_centric.xlsx")
        monkeypatch.setenv("VSCBENCH_TEXT_CENTRIC_URL", f"{base}/vscbench_text_centric.xlsx")
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        result = runner.invoke(app, ["quickstart", "--model", "scripted:keyword", "--limit", "20", "--json"])
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # only the text-centric subset can be asked without the image archive
    assert set(payload["by_subset"]) == {"text_centric"}
    assert payload["overall"]["n"] == 20
    rendered = work / "vscbench-data" / "vscbench_text_centric_images"
    assert len(list((rendered / "typography").glob("*.png"))) == 450
    assert len(list((rendered / "figstep").glob("*.png"))) == 450


def test_default_judge_follows_the_api_key(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert default_judge() == "offline"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert default_judge() == LLM_JUDGE_WHEN_KEYED


def test_quickstart_bad_data(tmp_path: Path) -> None:
    result = runner.invoke(app, ["quickstart", "--data", str(tmp_path / "nope"), "--model", "scripted:keyword"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["quickstart", "--data", str(tmp_path), "--model", "scripted:keyword"])
    assert result.exit_code == 2 and "vscbench data fetch" in result.output


def test_quickstart_without_a_reachable_source_fails_cleanly(tmp_path: Path, monkeypatch) -> None:
    import socket

    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("VSCBENCH_IMAGE_CENTRIC_URL", f"http://127.0.0.1:{port}/vscbench_image_centric.xlsx")
    monkeypatch.setenv("VSCBENCH_TEXT_CENTRIC_URL", f"http://127.0.0.1:{port}/vscbench_text_centric.xlsx")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["quickstart", "--model", "scripted:keyword"])
    assert result.exit_code == 2, result.output
    assert "could not download" in result.output and "Traceback" not in result.output
