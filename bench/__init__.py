"""Benchmarks: ``python -m bench.bench`` (every mode side by side) and ``bench/load_api.py`` (HTTP).

Nothing here is part of the installed package; run it from the repository root.
"""
