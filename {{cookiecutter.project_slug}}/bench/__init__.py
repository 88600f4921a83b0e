"""Benchmark of the service against two baselines: ``nox -s bench`` (see run.py)."""
