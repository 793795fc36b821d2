"""POPE and ScienceQA, the helpfulness side of the trade-off: sources, rows, prompts and the loader."""
