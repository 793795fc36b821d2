"""VSCBench in Inspect AI: tasks, our prompting methods as solvers, our judge as a scorer, SRA metrics.

Install with ``pip install 'vscbench[inspect]'``; Inspect then finds the tasks through the
``inspect_ai`` entry point (``inspect eval vscbench/text_centric -T data=DIR --model ...``).
Logs go both ways: :func:`~vscbench.inspect.log_import.import_log` stores an Inspect log as a
run (``vscbench import-inspect``), :func:`~vscbench.inspect.log_export.export_run` writes a run
as a log that ``inspect view`` opens (``vscbench export-inspect``).
"""

from __future__ import annotations

try:
    import inspect_ai  # noqa: F401
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError("vscbench.inspect needs Inspect AI: pip install 'vscbench[inspect]'") from exc

from vscbench.inspect.scorer import safety_judge
from vscbench.inspect.solvers import PreparedMethod, chain_of_thought, prepare_method, prompting, safety_prompt
from vscbench.inspect.sra_metrics import pair_calibration, sra_a, sra_s, sra_u
from vscbench.inspect.tasks import all_subsets, image_centric, text_centric, vscbench_task

__all__ = [
    "PreparedMethod", "all_subsets", "chain_of_thought", "image_centric", "pair_calibration", "prepare_method",
    "prompting", "safety_judge", "safety_prompt", "sra_a", "sra_s", "sra_u", "text_centric", "vscbench_task",
]  # fmt: skip
