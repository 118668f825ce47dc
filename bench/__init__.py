"""Benchmarks: run from the repository root, e.g. ``python bench/throughput.py``."""
