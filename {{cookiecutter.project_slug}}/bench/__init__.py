"""Benchmark of the service, with a raw ASGI floor beside it: ``nox -s bench`` (see run.py)."""
