"""vscbench: measure and repair the safety calibration of vision-language models."""

__version__ = "0.1.0"
