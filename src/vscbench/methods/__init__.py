"""Calibration methods: prompting transforms (``prompting``), activation steering (``steering``),
and the run-level plan that composes them (``plan``: :func:`parse_method`)."""

from vscbench.methods.plan import MethodPlan, MethodSpecError, parse_method

__all__ = ["MethodPlan", "MethodSpecError", "parse_method"]
