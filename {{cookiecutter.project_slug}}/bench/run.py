"""Benchmark the service beside a raw ASGI floor, all under uvicorn: ``nox -s bench``.

``load.py`` loads the servers in turn (bench/README.md); ``--server "mine=module:app"`` adds one.
"""

import argparse
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
{% if cookiecutter.broadcast == "redis" %}
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
{% endif %}
{% if cookiecutter.auth == "jwt" %}
from datetime import timedelta
{% endif %}
from pathlib import Path
from typing import Any

{% if cookiecutter.auth == "jwt" %}
from {{ cookiecutter.package_name }}.auth import mint_token
{% endif %}
from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

PROJECT_ROOT = Path(__file__).parent.parent
SERVICE = "this service"
SERVERS = {
    "raw ASGI floor": "bench.floor:floor_app",
    SERVICE: "bench.service:app",
}
UVICORN_FLAGS = ["--workers=1", "--ws=websockets-sansio", "--ws-per-message-deflate=false"]
UVICORN_FLAGS += ["--ws-max-size=65536", "--no-access-log", "--log-level=warning"]
START_TIMEOUT = 60.0  # seconds a server may take to listen: a busy machine imports slowly
FIGURES = {  # key: (column, digits)
    "messages_per_second": ("messages/s", 0),
    "cpu_us_per_message": ("CPU us/msg", 1),
    "connections_per_second": ("connections/s", 0),
    "cpu_us_per_connection": ("CPU us/conn", 0),
    "broadcasts_per_second": ("broadcasts/s", 0),
    "deliveries_per_second_1_topic": ("deliveries/s 1 topic", 0),
    "deliveries_per_second_n_topics": ("deliveries/s N topics", 0),
    "resumes_per_second": ("resumes/s", 0),
    "cpu_us_per_resume": ("CPU us/resume", 0),
    "idle_kib_per_connection": ("KiB/idle conn", 1),
    "kib_per_connection_at_scale": ("KiB/conn at scale", 1),
    "longest_stall_ms": ("longest stall ms", 0),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {START_TIMEOUT:.0f} s")


{% if cookiecutter.broadcast == "redis" %}
def wait_until_broadcasts_flow(port: int) -> None:
    """The service's /health says its broadcasts flow (it has subscribed to Redis)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as health:
                if json.load(health)["broadcast"]["available"]:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"broadcasts did not flow within {START_TIMEOUT:.0f} s")


{% endif %}
def pinned() -> tuple[list[str], list[str]]:
    """Commands that put the servers on one core and the load generator on another."""
    cores = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(cores) < 2:
        return [], []
    return ["taskset", "-c", str(cores[0])], ["taskset", "-c", str(cores[1])]


{% if cookiecutter.broadcast == "redis" %}
@contextmanager
def redis_for_the_service() -> Iterator[None]:
    """A redis-server of the benchmark's own on a free port, for the service's broadcasts."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("error: the benchmark of a broadcast=redis service needs redis-server on PATH")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        wait_until_listening(port, redis)
        os.environ[f"{ENV_PREFIX}REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        yield
    finally:
        redis.terminate()
        redis.wait(timeout=10)


{% endif %}
def run_round(servers: dict[str, str], settings: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Start every server, load them all from one process, stop them: the figures by server."""
    server_cores, client_cores = pinned()
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    # The servers' logs (one line per connection, at INFO) go to a file, not the terminal: the
    # figures include writing them, the report stays readable.
    with tempfile.TemporaryFile() as logs:
        try:
            for name, app in servers.items():
                port = free_port()
                command = [*server_cores, sys.executable, "-m", "uvicorn", app, f"--port={port}"]
                command += UVICORN_FLAGS
                server = subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=logs)
                started[name] = (server, port)
            load = [*client_cores, sys.executable, str(Path(__file__).with_name("load.py"))]
            for name, (server, port) in started.items():
                wait_until_listening(port, server)
{% if cookiecutter.broadcast == "redis" %}
                if name == SERVICE:
                    wait_until_broadcasts_flow(port)
{% endif %}
                url = f"ws://127.0.0.1:{port}{WEBSOCKET_PATH}"
                load += ["--target", name, str(server.pid), url]
            done = subprocess.run(
                [*load, f"--settings={json.dumps(settings)}"], capture_output=True, text=True
            )
            if done.returncode != 0:
                logs.seek(0)
                tail = logs.read()[-5000:].decode(errors="replace")
                raise RuntimeError(f"load generator failed:\n{done.stderr}\nservers:\n{tail}")
            figures: dict[str, dict[str, float]] = json.loads(done.stdout)
            return figures
        finally:
            for server, _ in started.values():
                server.terminate()
                server.wait(timeout=30)


def report(rounds: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Per server, each figure's median and range; then the service's paired ratios (the
    median of the rounds' ratios) to every other server."""

    def median_and_range(values: list[float], digits: int) -> str:
        if any(math.isnan(value) for value in values):
            return "-"  # a server that does not do this (a peer without topics)
        low, middle, high = min(values), statistics.median(values), max(values)
        return f"{middle:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"

    rows = [["server", *(column for column, _ in FIGURES.values())]]
    for name in rounds[0]:
        cells = [
            median_and_range([r[name].get(key, math.nan) for r in rounds], d)
            for key, (_, d) in FIGURES.items()
        ]
        rows.append([name, *cells])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))  # noqa: T201
    ratios = {
        other: {
            key: statistics.median(
                r[SERVICE].get(key, math.nan) / (r[other].get(key) or math.nan) for r in rounds
            )
            for key in FIGURES
        }
        for other in rounds[0]
        if other != SERVICE
    }
    for other, by_figure in ratios.items():
        described = ", ".join(
            f"{FIGURES[key][0]} {ratio:.2f}x" for key, ratio in by_figure.items() if ratio == ratio
        )
        print(f"{SERVICE} / {other}: {described}")  # noqa: T201
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=20, help="turns of the servers per phase")
    parser.add_argument("--connections", type=int, default=50, help="echoing at once")
    parser.add_argument("--messages", type=int, default=500, help="echoes per connection")
    parser.add_argument("--connect-count", type=int, default=400, help="connections opened")
    parser.add_argument("--idle", type=int, default=300, help="idle connections, for memory")
    parser.add_argument("--receivers", type=int, default=100, help="fan-out: receivers")
    parser.add_argument("--broadcasts", type=int, default=200, help="fan-out: broadcasts")
    parser.add_argument("--subscribers", type=int, default=1000, help="topic fan-out: listeners")
    parser.add_argument("--topics", type=int, default=100, help="topic fan-out: topics, 2nd run")
    parser.add_argument("--publishes", type=int, default=200, help="topic fan-out: publishes")
    parser.add_argument("--resumers", type=int, default=500, help="reconnect storm: clients")
    parser.add_argument("--missed", type=int, default=50, help="reconnect storm: each recovers")
    parser.add_argument("--storm", type=int, default=10_000, help="stalls: connections opened")
    parser.add_argument("--server", action="append", default=[], metavar="NAME=MODULE:APP")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run: figures mean nothing")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.blocks, args.connections, args.messages = 1, 2, 2, 20
        args.connect_count, args.idle, args.receivers, args.broadcasts = 4, 5, 5, 10
        args.subscribers, args.topics, args.publishes = 20, 4, 8
        args.resumers, args.missed, args.storm = 5, 5, 20
    servers = dict(SERVERS, **dict(server.split("=", 1) for server in args.server))
    settings = {key: value for key, value in vars(args).items() if key not in ("server", "json")}
    # Every server inherits these. The benchmark floods: the rate limit runs, but never refuses.
    os.environ["PYTHONPATH"] = f"{PROJECT_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    os.environ[f"{ENV_PREFIX}RATE_LIMIT"] = "1e9"
    os.environ[f"{ENV_PREFIX}RATE_BURST"] = str(10**9)
    os.environ[f"{ENV_PREFIX}MAX_CONNECTIONS"] = str(args.storm + 100)  # the storm, its probe
{% if cookiecutter.auth == "jwt" %}
    secret = os.environ.setdefault(f"{ENV_PREFIX}JWT_SECRET", "benchmark-only-secret-" + "x" * 32)
    load_settings = {**settings, "token": mint_token(secret, "bench", timedelta(hours=2))}
{% else %}
    load_settings = settings
{% endif %}
{% if cookiecutter.broadcast == "redis" %}
    with redis_for_the_service():
        rounds = [run_round(servers, load_settings) for _ in range(args.rounds)]
{% else %}
    rounds = [run_round(servers, load_settings) for _ in range(args.rounds)]
{% endif %}
    print(f"\n{args.rounds} rounds; medians (min-max); settings: {settings}\n")  # noqa: T201
    ratios = report(rounds)
    machine = {"python": platform.python_version(), "platform": platform.platform()}
    machine |= {"cpus": str(os.cpu_count()), "pinned": str(bool(pinned()[0]))}
    document = {"machine": machine, "settings": settings, "ratios": ratios, "rounds": rounds}
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nmachine: {machine}; every figure in {args.json}")  # noqa: T201


if __name__ == "__main__":
    main()
