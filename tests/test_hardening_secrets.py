"""Secrets never reach an output (issue 29): API keys given as model or judge options, headers
that carry one, a key in a base URL's query string or user-info, and a server error that echoes
the Authorization header. One run holds all of them; then every output a run record goes to is
read and searched: the store's bytes, `runs show` (table and JSON), `runs export` (JSONL and CSV),
`score`, `report`, and the Inspect export. Local fake server, six samples."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Fault
from typer.testing import CliRunner

from vscbench.cli import app

runner = CliRunner()

OPTION_KEY = "sk-optionSECRET0123456789abcdef"
HEADER_BEARER = "tok-headerSECRET0123456789"
HEADER_X = "xkey-headerSECRET9876543210"
QUERY_KEY = "querySECRET0123456789"
URL_PASSWORD = "urlSECRETpw42"
JUDGE_KEY = "sk-judgeSECRET0123456789abcdef"
ECHOED = base64.b64encode(b"alice:echoedSECRET").decode()
SECRETS = [OPTION_KEY, HEADER_BEARER, HEADER_X, QUERY_KEY, URL_PASSWORD, JUDGE_KEY, ECHOED, "echoedSECRET"]


def test_redaction_by_name_and_by_shape() -> None:
    from vscbench.safe_text import redact_options, redact_secrets

    options = {
        "api_key": OPTION_KEY, "max_tokens": 512, "pair_key": "p1", "timeout": 3,
        "default_headers": {"Authorization": f"Bearer {HEADER_BEARER}", "x-api-key": HEADER_X, "Accept": "json"},
        "access_token": "abc", "password": "pw", "client_secret": "cs",
    }  # fmt: skip
    clean = redact_options(options)
    assert clean["max_tokens"] == 512 and clean["timeout"] == 3 and clean["default_headers"]["Accept"] == "json"
    assert clean["pair_key"] == "p1"  # a key that names a thing, not a credential
    flat = json.dumps(clean)
    for secret in (OPTION_KEY, HEADER_BEARER, HEADER_X, "abc", '"pw"', '"cs"'):
        assert secret not in flat, secret
    text = (
        f"HTTP 401: bad header Authorization: Basic {ECHOED} and Bearer {HEADER_BEARER}; key {OPTION_KEY}; "
        f"GET http://bob:{URL_PASSWORD}@h/v1/chat?api-key={QUERY_KEY}&x=1 x-api-key: {HEADER_X} "
        "AIzaSyA1234567890abcdefghijklmnopqrstu 0123456789abcdef0123456789abcdef01234567 "
        "token Zx9Qm2Lr7Tb4Kp1Vd8Hs3Nw6Yc5Fg0JaUe"
    )
    cleaned = redact_secrets(text)
    for secret in (*SECRETS, "AIzaSyA1234567890", "0123456789abcdef0123456789abcdef", "Zx9Qm2Lr7Tb4"):
        assert secret not in cleaned, (secret, cleaned)
    assert cleaned.startswith("HTTP 401: bad header Authorization:") and "x=1" in cleaned
    for plain in ("The answer is 42; see https://example.org/a/b?page=2 and max_tokens=512.",
                  "HTTP 401 invalid_api_key: Incorrect API key provided", "image_centric/r94/safe/slot_0",
                  "cannot read image: /tmp/tmp004rygre/bomb-release/vscbench_image_centric_images/drugs/safe_0.png",
                  "run vscbench_image_centric_images_2024_copy_number_12 again"):  # fmt: skip
        assert redact_secrets(plain) == plain


@pytest.fixture(scope="module")
def leaky(tmp_path_factory, release_template: Path):
    """A CLI run with secrets in every place a user may put one, judged, then every output written."""
    work = tmp_path_factory.mktemp("leaky")
    with FakeOpenAI() as fake:
        fake.fail(None, Fault("status", 400, code="bad", message=f"rejected header Authorization: Basic {ECHOED}"),
                  times=2)  # fmt: skip
        url = f"http://bob:{URL_PASSWORD}@127.0.0.1:{fake.port}/v1?api-key={QUERY_KEY}"
        config = work / "exp.toml"
        config.write_text(
            f'models = ["openai:fake-model@{url}"]\n'
            "[selection]\n"
            f'data = "{release_template}"\nsubset = "text_centric"\nlimit = 6\n'
            "[execution]\nmax_retries = 0\n"
            f'[execution.model_options]\napi_key = "{OPTION_KEY}"\n'
            "[execution.model_options.default_headers]\n"
            f'Authorization = "Bearer {HEADER_BEARER}"\n"x-api-key" = "{HEADER_X}"\n'
            f'[judging]\njudges = ["offline"]\noptions = {{ api_key = "{JUDGE_KEY}" }}\n',
            encoding="utf-8",
        )
        store = work / "runs.sqlite"
        ran = runner.invoke(app, ["run", "--config", str(config), "--store", str(store), "--run", "leaky",
                                  "--allow-errors"])  # fmt: skip
        seen = fake.completions()
    outputs = {"run": ran.output}
    for name, args in {
        "show": ["runs", "show", "leaky"], "show_json": ["runs", "show", "leaky", "--json"],
        "list": ["runs", "list"], "score": ["score", "--run", "leaky"],
        "export_jsonl": ["runs", "export", "leaky", "--out", str(work / "r.jsonl")],
        "export_csv": ["runs", "export", "leaky", "--out", str(work / "r.csv"), "--format", "csv"],
        "report": ["report", "--run", "leaky", "--out", str(work / "r.html")],
        "inspect": ["export-inspect", "--run", "leaky", "--out", str(work / "r.eval")],
    }.items():  # fmt: skip
        result = runner.invoke(app, [*args, "--store", str(store)])
        outputs[name] = result.output
        assert result.exit_code == 0, (name, result.output)
    return work, ran, seen, outputs


def test_the_secrets_reached_the_server(leaky) -> None:
    _, ran, seen, _ = leaky
    assert ran.exit_code == 0, ran.output
    assert seen and all(r.path.startswith("/v1/chat/completions") for r in seen)  # the query did not break the path
    first = seen[0]
    assert f"api-key={QUERY_KEY}" in first.path
    assert first.headers["x-api-key"] == HEADER_X
    assert first.headers["authorization"]


def test_no_secret_in_any_output(leaky) -> None:
    work, _, _, outputs = leaky
    files = [p for p in work.rglob("*") if p.is_file() and p.name != "exp.toml"]
    assert {"runs.sqlite", "r.jsonl", "r.csv", "r.html", "r.eval"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".eval":  # a zip: search its members
            import zipfile

            with zipfile.ZipFile(path) as archive:
                data = b"".join(archive.read(name) for name in archive.namelist())
        for secret in SECRETS:
            assert secret.encode() not in data, (secret, path.name)
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, (secret, name)
    assert "Authorization: Basic" in (work / "r.jsonl").read_text()  # the error is kept, its secret is not


def test_outputs_of_a_store_written_before_redaction_hide_its_secrets(tmp_path: Path) -> None:
    """A store an earlier version wrote holds secrets in clear; no output copies them out."""
    from vscbench.engine.runner import run_samples_sync
    from vscbench.models.base import load_model
    from vscbench.schema import Sample

    path = tmp_path / "old.sqlite"
    samples = [Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe",
                      prompt=f"question {i}") for i in range(2)]  # fmt: skip
    from vscbench.store import Store

    with Store(path) as store:
        run_samples_sync(load_model("scripted:keyword"), samples, store, run_name="old")
        db = store.database.connection
        spec = json.loads(db.execute("SELECT spec FROM runs WHERE name = 'old'").fetchone()[0])
        spec["meta"] = {"experiment": {"execution": {"model_options": {"api_key": OPTION_KEY}}}}
        db.execute("UPDATE runs SET spec = ? WHERE name = 'old'", (json.dumps(spec),))
        db.execute("UPDATE responses SET outcome = 'error', text = NULL, error = ?",
                   (f"HTTP 400: echo Authorization: Basic {ECHOED}",))  # fmt: skip
    outputs = []
    for args in (["runs", "show", "old"], ["runs", "show", "old", "--json"],
                 ["runs", "export", "old", "--out", str(tmp_path / "o.jsonl")],
                 ["report", "--all", "--out", str(tmp_path / "o.html")],
                 ["export-inspect", "--run", "old", "--out", str(tmp_path / "o.json")]):  # fmt: skip
        result = runner.invoke(app, [*args, "--store", str(path)])
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    outputs += [(tmp_path / name).read_text(encoding="utf-8") for name in ("o.jsonl", "o.html", "o.json")]
    for text in outputs:
        for secret in (OPTION_KEY, ECHOED):
            assert secret not in text


@pytest.mark.parametrize("backend", ["openai", "anthropic", "google"])
def test_a_key_with_a_line_break_is_refused_without_quoting_it(tmp_path: Path, monkeypatch, backend: str) -> None:
    variable = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GEMINI_API_KEY"}[backend]
    monkeypatch.setenv(variable, "sk-firstPART0123456789\nsecondPART987654")
    with FakeOpenAI() as fake:
        spec = f"{backend}:m@{fake.base_url if backend == 'openai' else fake.base_url.removesuffix('/v1')}"
        samples = tmp_path / "samples.jsonl"
        samples.write_text(json.dumps({"id": "s0", "subset": "text_centric", "category": "c", "variant": "text",
                                       "label": "safe", "prompt": "hello"}) + "\n")  # fmt: skip
        result = runner.invoke(app, ["run", "--data", str(samples), "--model", spec, "--store",
                                     str(tmp_path / "runs.sqlite")])  # fmt: skip
    assert result.exit_code == 2 and variable in result.output and "line break" in result.output, result.output
    assert "Traceback" not in result.output
    for part in ("firstPART", "secondPART"):
        assert part not in result.output
        for path in tmp_path.glob("runs.sqlite*"):
            assert part.encode() not in path.read_bytes()


def test_an_experiment_read_back_from_the_store_takes_its_keys_from_the_environment(leaky) -> None:
    from vscbench.experiment import Experiment
    from vscbench.store import Store

    work, _, _, _ = leaky
    with Store(work / "runs.sqlite") as store:
        again = Experiment.from_run(store, "leaky")
    options = again.execution.model_options
    assert "api_key" not in options and "Authorization" not in options["default_headers"]
    assert "***" not in json.dumps(again.model_dump(mode="json")) and "api-key" not in again.models[0]
    assert again.models == [again.models[0]] and "127.0.0.1" in again.models[0]
