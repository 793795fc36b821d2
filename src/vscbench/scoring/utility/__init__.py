"""Scoring the utility benchmarks: answer extraction, POPE/ScienceQA metrics, stored utility runs."""
