"""Benchmarks: every figure is measured next to a baseline taken in the same run.

Run everything with `python bench/run.py [--quick]`; see bench/README.md.
"""
