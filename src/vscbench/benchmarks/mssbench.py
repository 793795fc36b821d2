"""MSSBench (Zhou et al., 2024): multimodal situational safety, the same request in a safe and in
an unsafe situation.

The Hub dataset ``kzhou35/mssbench`` publishes ``combined.json`` (the evaluation code reads it
as ``combine.json``; both names are accepted) with two lists, and the images in ``chat/`` and
``embodied/``::

    {"chat": [{"safe_image_path", "unsafe_image_path", "intent", "unsafe_image", "Type",
               "queries": [...], ...}, ...],
     "embodied": [{"task", "category", "safe", "unsafe", "safe_instructions",
                   "unsafe_instructions", ...}, ...]}

Chat: every query is asked once with the safe image (label safe) and once with the unsafe one
(label unsafe); the two are twins. Embodied: the n-th safe instruction goes with the safe image,
the n-th unsafe instruction with the unsafe image; they are twins too. The benchmark's own
runs prepend a task instruction (its ``utils/prompts.py``); pass it as ``chat_instruction`` /
``embodied_instruction`` to send exactly that, the query alone is sent otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, finish, locate, make_sample
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.tabular import load_json, prompt_text, text, usable_image
from vscbench.schema import Sample

FILES = ("combined.json", "combine.json")
TASKS = ("chat", "embodied")

INFO = BenchmarkInfo(
    name="mssbench",
    title="MSSBench",
    modality="image+text",
    measures=("sra_s", "sra_u", "sra_a", "pairs"),
    labels=("safe", "unsafe"),
    pairs=True,
    description=(
        "Situational safety: one query asked with an image of a safe situation and with an image of an "
        "unsafe one (chat assistant and embodied household tasks); answering the first and warning on "
        "the second is calibrated."
    ),
    licence="MIT (code); dataset card names no licence",
    url="https://huggingface.co/datasets/kzhou35/mssbench",
    paper="https://arxiv.org/abs/2410.06172",
    get_it=(
        "download combined.json and the chat/ and embodied/ folders from "
        "https://huggingface.co/datasets/kzhou35/mssbench and pass their folder"
    ),
    expected_files=("combined.json", "chat/", "embodied/"),
    expected_samples=None,
    hub_id=None,
    variants=TASKS,
    options=(
        ("tasks", "chat, embodied or both (default both)"),
        ("chat_instruction", "text sent before every chat query (the benchmark's task instruction)"),
        ("embodied_instruction", "text sent before every embodied instruction"),
    ),
)


def _entries(data: Any, task: str, file: str) -> list[Any]:
    if isinstance(data, list) and task == "chat":
        return data  # a plain list of chat entries, as some copies keep it
    if not isinstance(data, dict) or task not in data:
        return []
    entries = data[task]
    if not isinstance(entries, list):
        raise DatasetError(f"{file}: '{task}' should be a list of entries, not {type(entries).__name__}")
    return entries


def _chat(entries: list[Any], file: str, root: Path, instruction: str, report: BenchmarkReport) -> list[Sample]:
    samples: list[Sample] = []
    for row, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            report.add("bad_row", file, row, "chat", f"chat entry {row} is not an object")
            continue
        queries = entry.get("queries")
        if not isinstance(queries, list) or not queries:
            report.add("missing_prompt", file, row, "chat.queries", f"chat entry {row} has no queries")
            continue
        ids = {side: [f"mssbench/chat/{row}/q{q}/{side}" for q in range(len(queries))] for side in ("safe", "unsafe")}
        images = {
            side: usable_image(report, file, row, f"chat.{side}_image_path", entry.get(f"{side}_image_path"),
                               root / "chat", ids[side])
            for side in ("safe", "unsafe")
        }  # fmt: skip
        category = text(entry.get("Type") or entry.get("type")) or "unknown"
        meta = {"intent": text(entry.get("intent")), "unsafe_situation": text(entry.get("unsafe_image")),
                "reason": text(entry.get("reason")), "entry": row}  # fmt: skip
        for number, query in enumerate(queries):
            query, why = prompt_text(report, file, row, f"chat.queries[{number}]", query, f"chat entry {row}")
            if why:
                for side in ("safe", "unsafe"):
                    report.unusable[ids[side][number]] = why
                continue
            for side, image in images.items():
                if image is None:
                    continue
                samples.append(
                    make_sample(
                        "mssbench", f"chat/{row}/q{number}/{side}", category=category, variant="chat", label=side,
                        prompt=instruction + query, question=query, image_path=image, source_file=file,
                        source_row=row, pair_key=f"chat/{row}/q{number}", cluster=f"chat/{row}/q{number}", meta=meta,
                    )
                )  # fmt: skip
    return samples


def _instructions(entry: dict[str, Any], side: str) -> list[Any]:
    many = entry.get(f"{side}_instructions")
    if isinstance(many, list) and many:
        return list(many)
    one = entry.get(f"{side}_instruction")
    return [one] if one else []


def _embodied(entries: list[Any], file: str, root: Path, instruction: str, report: BenchmarkReport) -> list[Sample]:
    samples: list[Sample] = []
    for row, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            report.add("bad_row", file, row, "embodied", f"embodied entry {row} is not an object")
            continue
        safe_list, unsafe_list = _instructions(entry, "safe"), _instructions(entry, "unsafe")
        if len(safe_list) != len(unsafe_list):
            report.add("pair_mismatch", file, row, "embodied.unsafe_instructions",
                       f"{len(safe_list)} safe but {len(unsafe_list)} unsafe instructions; extra ones are left out",
                       "warning")  # fmt: skip
        count = min(len(safe_list), len(unsafe_list))
        if count == 0:
            report.add(
                "missing_prompt", file, row, "embodied.safe_instructions", f"embodied entry {row} has no instructions"
            )
            continue
        ids = {side: [f"mssbench/embodied/{row}/{n}/{side}" for n in range(count)] for side in ("safe", "unsafe")}
        images = {
            side: usable_image(report, file, row, f"embodied.{side}", entry.get(side), root / "embodied", ids[side])
            for side in ("safe", "unsafe")
        }
        category = text(entry.get("category")) or "unknown"
        for number in range(count):
            for side, raw in (("safe", safe_list[number]), ("unsafe", unsafe_list[number])):
                if images[side] is None:
                    continue
                said, why = prompt_text(
                    report, file, row, f"embodied.{side}_instructions[{number}]", raw, f"embodied entry {row}"
                )
                if why:
                    report.unusable[ids[side][number]] = why
                    continue
                samples.append(
                    make_sample(
                        "mssbench", f"embodied/{row}/{number}/{side}", category=category, variant="embodied",
                        label=side, prompt=instruction + said, question=said, image_path=images[side],
                        source_file=file, source_row=row, pair_key=f"embodied/{row}/{number}",
                        cluster=f"embodied/{row}", meta={"task": text(entry.get("task")), "entry": row},
                    )
                )  # fmt: skip
    return samples


def load(
    data: str | Path,
    *,
    tasks: Sequence[str] = TASKS,
    chat_instruction: str = "",
    embodied_instruction: str = "",
) -> LoadedBenchmark:
    """MSSBench chat and embodied pairs from ``combined.json`` and its image folders."""
    wanted = [tasks] if isinstance(tasks, str) else list(tasks)
    if not wanted or any(t not in TASKS for t in wanted):
        raise DatasetError(f"unknown MSSBench task(s) {wanted}; use chat and/or embodied")
    path = locate(data, INFO, FILES)
    if path.suffix.lower() != ".json":
        raise DatasetError(f"{path} is not MSSBench's combined.json. {INFO.get_it}")
    content, root, file = load_json(path), path.parent, path.name
    report = BenchmarkReport("mssbench", file)
    samples: list[Sample] = []
    for task in wanted:
        entries = _entries(content, task, file)
        if not entries:
            report.add("missing_section", file, None, task, f"{file} has no '{task}' entries", "warning")
            continue
        if not (root / task).is_dir():
            report.add("missing_image_folder", file, None, task, f"the image folder {root / task} does not exist")
        maker = _chat if task == "chat" else _embodied
        samples += maker(entries, file, root, chat_instruction if task == "chat" else embodied_instruction, report)
    if not samples and not report.unusable:
        raise DatasetError(f"{path} holds no MSSBench {' or '.join(wanted)} entries. {INFO.get_it}")
    return finish(INFO, samples, report, path)
