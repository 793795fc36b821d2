"""The module Inspect loads through the ``inspect_ai`` entry point: importing it registers the
vscbench tasks, solvers, scorer and metrics under the ``vscbench/`` namespace."""

from vscbench.inspect import (  # noqa: F401
    all_subsets,
    chain_of_thought,
    image_centric,
    pair_calibration,
    prompting,
    safety_judge,
    safety_prompt,
    sra_a,
    sra_s,
    sra_u,
    text_centric,
)
