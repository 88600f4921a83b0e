"""Benchmark the service against a raw ASGI app, a bare Litestar listener and the Starlette
endpoint a user would write instead, in one run.

Each server runs under uvicorn with the same flags (one worker, websockets-sansio, compression
off); all four run at once, and ``load.py``, in a separate process, loads them in turn: within
each phase they take turns in ``--blocks`` short blocks, so that a slow moment of a shared
machine falls on all of them alike. With ``taskset``, the servers and the client are pinned to
different cores. Each of ``--rounds`` rounds starts fresh servers. Phases: idle memory, echo
throughput, connection rate, broadcast fan-out, reconnect storm. The report gives medians and
ranges, ratios to the raw ASGI app, the server's CPU time per operation, and the client's CPU
use (near 100% would mean the client, not the server, was the limit). ``--json`` also writes
every figure.

    nox -s bench                          # defaults: about a minute on 2 cores
    nox -s bench -- --rounds 5 --connections 100 --messages 5000
"""

import argparse
import asyncio
{% if cookiecutter.broadcast == "redis" %}
import contextlib
{% endif %}
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
{% if cookiecutter.auth == "jwt" %}
from datetime import timedelta
{% endif %}
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # ``bench.baselines`` for uvicorn, run from anywhere

from uvicorn.importer import import_from_string  # noqa: E402

{% if cookiecutter.auth == "jwt" %}
from {{ cookiecutter.package_name }}.auth import mint_token  # noqa: E402
{% endif %}
from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH  # noqa: E402
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX  # noqa: E402

SERVERS = {
    "raw ASGI": "bench.baselines:raw_asgi_app",
    "bare listener": "bench.baselines:bare_listener_app",
    "Starlette peer": "bench.baselines:starlette_peer_app",
    "this service": "{{ cookiecutter.package_name }}.app:app",
}
BASELINE = "raw ASGI"
PEER = "Starlette peer"
SERVICE = "this service"
UVICORN_FLAGS = [
    "--workers=1",
    "--ws=websockets-sansio",
    "--ws-per-message-deflate=false",
    "--ws-max-size=65536",
    "--no-access-log",
    "--log-level=warning",
]


@dataclass(frozen=True)
class Cores:
    """Commands that pin the server and the client to different cores, where possible."""

    server: list[str]
    client: list[str]

    @classmethod
    def detect(cls) -> "Cores":
        if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:  # Linux
            first, second, *_ = sorted(os.sched_getaffinity(0))
            return cls(["taskset", "-c", str(first)], ["taskset", "-c", str(second)])
        return cls([], [])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"server did not listen on {port} within {timeout} s")


def configure_service() -> None:
    """Settings for the service under load; every server process inherits them.

    The benchmark floods on purpose, so the rate limit is set out of reach: the check still runs
    on every message and is measured, but never refuses one.
    """
    os.environ[f"{ENV_PREFIX}RATE_LIMIT"] = "1e9"
    os.environ[f"{ENV_PREFIX}RATE_BURST"] = str(10**9)
{% if cookiecutter.auth == "jwt" %}
    os.environ.setdefault(f"{ENV_PREFIX}JWT_SECRET", "benchmark-only-secret-not-for-anything-else")


def bench_token() -> str:
    """A token for the load generator and the app-only run, signed with the service's secret."""
    return mint_token(os.environ[f"{ENV_PREFIX}JWT_SECRET"], "bench", timedelta(hours=1))
{% endif %}


{% if cookiecutter.broadcast == "redis" %}
@contextlib.contextmanager
def redis_for_the_service() -> Iterator[None]:
    """A redis-server of the benchmark's own on a free port, for the service's broadcasts."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("error: the benchmark of a broadcast=redis service needs redis-server on PATH")
    port = free_port()
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, redis)
        os.environ[f"{ENV_PREFIX}REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        yield
    finally:
        redis.terminate()
        redis.wait(timeout=10)


{% endif %}
def wait_for_broadcasts(port: int, timeout: float = 15) -> None:
    """Wait until the service says broadcasts flow (its /health); baselines have no /health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if json.load(response)["broadcast"]["available"]:
                    return
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"broadcasts did not become available within {timeout} s")


def run_round(names: list[str], args: argparse.Namespace, cores: Cores) -> dict[str, Any]:
    """Start every server, load them from one separate process, stop them; return the load's
    figures by server. ``names`` gives the order of their turns."""
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for name in names:
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", SERVERS[name], f"--port={port}"]
            server = subprocess.Popen([*cores.server, *command, *UVICORN_FLAGS], cwd=PROJECT_ROOT)
            started[name] = (server, port)
        for name, (server, port) in started.items():
            wait_for_port(port, server)
            if name == SERVICE:
                wait_for_broadcasts(port)
        targets = [
            ("--target", name, str(server.pid), f"ws://127.0.0.1:{port}{WEBSOCKET_PATH}")
            for name, (server, port) in started.items()
        ]
        load = subprocess.run(
            [
                *cores.client,
                sys.executable,
                str(Path(__file__).with_name("load.py")),
                *(argument for target in targets for argument in target),
                f"--blocks={args.blocks}",
                f"--connections={args.connections}",
                f"--messages={args.messages}",
                f"--connect-count={args.connect_count}",
                f"--connect-at-once={args.connect_at_once}",
                f"--idle={args.idle}",
                f"--receivers={args.receivers}",
                f"--broadcasts={args.broadcasts}",
                f"--storm={args.storm}",
{% if cookiecutter.auth == "jwt" %}
                f"--token={bench_token()}",
{% endif %}
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if load.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{load.stderr}")
        figures: dict[str, Any] = json.loads(load.stdout)
        return figures
    finally:
        for server, _ in started.values():
            server.send_signal(signal.SIGTERM)
        for server, _ in started.values():
            server.wait(timeout=15)


async def app_cost(app: Any, messages: int) -> float:
    """Microseconds per echo spent in the app alone: its ASGI callable driven directly.

    No server, no network, no client: the part of the per-message cost this project's code
    decides, measured without the noise of the rest.
    """
    echo = json.dumps({"type": "echo", "text": "hello"})
    events: Iterator[dict[str, Any]] = iter(
        [
            {"type": "websocket.connect"},
            *({"type": "websocket.receive", "text": echo} for _ in range(messages)),
            {"type": "websocket.disconnect", "code": 1000},
        ]
    )
    frames_sent = 0

    async def receive() -> dict[str, Any]:
        return next(events)

    async def send(event: dict[str, Any]) -> None:
        nonlocal frames_sent
        frames_sent += event["type"] == "websocket.send"

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": WEBSOCKET_PATH,
        "raw_path": WEBSOCKET_PATH.encode(),
        "root_path": "",
        "query_string": b"",
{% if cookiecutter.auth == "jwt" %}
        "headers": [(b"authorization", f"Bearer {bench_token()}".encode())],
{% else %}
        "headers": [],
{% endif %}
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "state": {},
    }
    started = time.perf_counter()
    await app(scope, receive, send)
    elapsed = time.perf_counter() - started
    if frames_sent != messages + 1:  # the welcome, then one reply per echo
        raise RuntimeError(f"app sent {frames_sent} frames for {messages} echoes")
    return elapsed / messages * 1e6


async def warm_app_cost(app: Any, messages: int, repeats: int = 5) -> float:
    """The least of ``repeats`` ``app_cost`` runs, after one that builds the app's caches.

    The least, not the median: on a shared machine, timing noise only ever adds time.
    """
    await app_cost(app, 100)
    return min([await app_cost(app, messages) for _ in range(repeats)])


def summarize(values: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "by_round": values,
    }


def per_second(phase: dict[str, float]) -> float:
    return phase["operations"] / phase["seconds"]


def microseconds_per_operation(phase: dict[str, float], side: str) -> float:
    return phase[f"{side}_cpu_seconds"] / phase["operations"] * 1e6


def client_cpu_share(phase: dict[str, float]) -> float:
    return phase["client_cpu_seconds"] / phase["seconds"]


def report(results: dict[str, list[dict[str, Any]]], receivers: int) -> dict[str, Any]:
    """Medians, ranges and ratios to the baseline of every figure, by server."""
    summary: dict[str, Any] = {}
    for name, runs in results.items():
        throughput = [run["throughput"] for run in runs]
        connections = [run["connection_rate"] for run in runs]
        fan_out = [run["fan_out"] for run in runs]
        storms = [run["reconnect_storm"] for run in runs]
        summary[name] = {
            "messages_per_second": summarize([per_second(phase) for phase in throughput]),
            "server_cpu_us_per_message": summarize(
                [microseconds_per_operation(phase, "server") for phase in throughput]
            ),
            "connections_per_second": summarize([per_second(phase) for phase in connections]),
            "server_cpu_us_per_connection": summarize(
                [microseconds_per_operation(phase, "server") for phase in connections]
            ),
            "storm_seconds": summarize([phase["seconds"] for phase in storms]),
            "broadcasts_per_second": summarize([per_second(phase) for phase in fan_out]),
            # Each broadcast reaches every receiver and the sender.
            "deliveries_per_second": summarize(
                [per_second(phase) * (receivers + 1) for phase in fan_out]
            ),
            "idle_kib_per_connection": summarize([run["idle_kib_per_connection"] for run in runs]),
            "app_only_us_per_message": summarize([run["app_only_us_per_message"] for run in runs]),
            "client_cpu_share_messages": max(client_cpu_share(phase) for phase in throughput),
            "client_cpu_share_connections": max(client_cpu_share(phase) for phase in connections),
        }
    for figures in summary.values():
        for key in ("messages_per_second", "connections_per_second", "broadcasts_per_second"):
            figures[key]["ratio_to_baseline"] = ratio(figures, summary[BASELINE], key)
    return summary


def print_table(summary: dict[str, Any], args: argparse.Namespace) -> None:
    def cell(figure: dict[str, float], digits: int = 0) -> str:
        low, high = f"{figure['min']:,.{digits}f}", f"{figure['max']:,.{digits}f}"
        return f"{figure['median']:,.{digits}f} ({low}-{high})"

    rows = [
        (
            "server",
            "messages/s",
            "ratio",
            "CPU us/msg",
            "connections/s",
            "ratio",
            "CPU us/conn",
            "storm s",
            "broadcasts/s",
            "ratio",
            "deliveries/s",
            "KiB/idle conn",
            "app-only us/msg",
            "client CPU msg/conn",
        )
    ]
    for name, figures in summary.items():
        rows.append(
            (
                name,
                cell(figures["messages_per_second"]),
                f"{figures['messages_per_second']['ratio_to_baseline']:.2f}",
                cell(figures["server_cpu_us_per_message"], 1),
                cell(figures["connections_per_second"]),
                f"{figures['connections_per_second']['ratio_to_baseline']:.2f}",
                cell(figures["server_cpu_us_per_connection"]),
                cell(figures["storm_seconds"], 2),
                cell(figures["broadcasts_per_second"]),
                f"{figures['broadcasts_per_second']['ratio_to_baseline']:.2f}",
                cell(figures["deliveries_per_second"]),
                cell(figures["idle_kib_per_connection"], 1),
                cell(figures["app_only_us_per_message"], 2),
                f"{figures['client_cpu_share_messages']:.0%} / "
                f"{figures['client_cpu_share_connections']:.0%}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    print(  # noqa: T201
        f"\n{args.rounds} rounds; throughput: {args.connections} connections x {args.messages}"
        f" echoes, one in flight each; connection rate: {args.connect_count} connections,"
        f" {args.connect_at_once} at once; storm: {args.storm} connections at once, seconds"
        f" until all are welcomed; fan-out: {args.broadcasts} broadcasts from one sender"
        f" (10 in flight) to {args.receivers} receivers; memory: {args.idle} idle connections."
        "\nMedian (min-max) over the rounds; a ratio is the median of the rounds' ratios (in each"
        " round, the servers took turns). App-only: the app's ASGI callable driven directly, no"
        " server or network.\n"
    )
    for row in rows:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)))  # noqa: T201
    print(  # noqa: T201
        "\nClient CPU is the load generator's busiest run (one core = 100%); near 100%, the"
        " client, not the server, set that column's pace."
    )
    service = summary[SERVICE]
    for other in ("bare listener", PEER):
        figures = summary[other]
        print(  # noqa: T201
            f"\nthis service / {other}:"
            f" throughput {ratio(service, figures, 'messages_per_second'):.2f}x,"
            f" CPU per message {ratio(service, figures, 'server_cpu_us_per_message'):.2f}x,"
            f" connection rate {ratio(service, figures, 'connections_per_second'):.2f}x,"
            f" CPU per connection {ratio(service, figures, 'server_cpu_us_per_connection'):.2f}x,"
            f" storm time {ratio(service, figures, 'storm_seconds'):.2f}x,"
            f" broadcasts {ratio(service, figures, 'broadcasts_per_second'):.2f}x,"
            f" idle memory {ratio(service, figures, 'idle_kib_per_connection'):.2f}x,"
            f" app-only cost per message {ratio(service, figures, 'app_only_us_per_message'):.2f}x"
        )


def ratio(figures: dict[str, Any], baseline: dict[str, Any], key: str) -> float:
    """The median over the rounds of each round's ratio: the servers of one round took turns,
    so a slow moment of the machine weighs on both sides of it. NaN where the baseline measured
    0 (a run too short to tell)."""
    pairs = zip(figures[key]["by_round"], baseline[key]["by_round"], strict=True)
    ratios = [value / base for value, base in pairs if base]
    return statistics.median(ratios) if ratios else float("nan")


def measure_every_server(args: argparse.Namespace, cores: Cores) -> dict[str, list[dict[str, Any]]]:
    """Every server, ``args.rounds`` times, the first turn going to each in a rotating order."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVERS}
    names = list(SERVERS)
    for round_number in range(args.rounds):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr)  # noqa: T201
        figures = run_round(order, args, cores)
        for name in order:
            app = import_from_string(SERVERS[name])
            app_only = asyncio.run(warm_app_cost(app, args.app_messages))
            results[name].append({**figures[name], "app_only_us_per_message": app_only})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=20, help="turns of the servers per phase")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--messages", type=int, default=500, help="echoes per connection")
    parser.add_argument("--connect-count", type=int, default=200)
    parser.add_argument("--connect-at-once", type=int, default=10)
    parser.add_argument("--idle", type=int, default=300, help="idle connections for memory")
    parser.add_argument("--receivers", type=int, default=100, help="fan-out: receivers")
    parser.add_argument("--broadcasts", type=int, default=200, help="fan-out: broadcasts")
    parser.add_argument("--storm", type=int, default=500, help="reconnect storm: clients")
    parser.add_argument("--app-messages", type=int, default=10_000, help="for the app-only cost")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run that only checks the benchmark works; its figures mean nothing",
    )
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.blocks, args.connections, args.messages = 1, 2, 2, 20
        args.connect_count, args.idle, args.app_messages = 5, 5, 100
        args.receivers, args.broadcasts, args.storm = 5, 10, 5

    configure_service()
    cores = Cores.detect()
{% if cookiecutter.broadcast == "redis" %}
    with redis_for_the_service():
        results = measure_every_server(args, cores)
{% else %}
    results = measure_every_server(args, cores)
{% endif %}

    summary = report(results, args.receivers)
    print_table(summary, args)
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "pinned": bool(cores.server),
    }
    settings = {key: value for key, value in vars(args).items() if key != "json"}
    document = {"machine": machine, "settings": settings, "summary": summary, "runs": results}
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nmachine: {machine}\nfigures written to {args.json}")  # noqa: T201


if __name__ == "__main__":
    main()
