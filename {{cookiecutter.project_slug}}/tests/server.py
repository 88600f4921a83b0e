"""Start the service under a real uvicorn in a subprocess, and look at it from outside."""

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection as SyncClientConnection
from websockets.sync.client import connect as connect_sync
from websockets.typing import Origin

from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from .fault_injection import LIVE_OBJECTS_PATH
from .support import (
{% if cookiecutter.auth == "jwt" %}
    AUTH_HEADERS,
{% endif %}
{% if cookiecutter.broadcast == "redis" %}
    NO_REDIS_URL,
{% endif %}
    RECEIVE_TIMEOUT,
{% if cookiecutter.auth == "jwt" %}
    TEST_JWT_SECRET,
{% endif %}
    parse_metrics,
)

PROJECT_ROOT = Path(__file__).parent.parent
STARTUP_TIMEOUT = 60.0
"""Seconds a real server may take to answer: a busy CI runner can take that long to import."""
OPEN_TIMEOUT = 15.0
"""Seconds a client waits for its handshake: a loaded machine queues many at once."""
TRACEBACK = "Traceback (most recent call last)"

# One HTTP client for every look at every server: a new one per request would build a TLS context
# each time (most of 0.1 s). No keep-alive, so that no request meets a connection to a server
# that a test has stopped.
_HTTP = httpx.Client(timeout=RECEIVE_TIMEOUT, limits=httpx.Limits(max_keepalive_connections=0))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """One uvicorn process serving the app (with test-triggerable faults) on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    expected_tracebacks: int = 0
    """Tracebacks the test provokes on purpose; any other one fails the test."""
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WEBSOCKET_PATH}"

    def get_json(self, path: str) -> Any:
        """The JSON body of a GET of ``path``; an error status fails."""
        response = _HTTP.get(self.url + path)
        response.raise_for_status()
        return response.json()

    def metrics(self) -> dict[str, float]:
        """``/metrics``, as ``{'name{label="value"}': value}`` (see ``support.parse_metrics``)."""
        response = _HTTP.get(self.url + "/metrics")
        response.raise_for_status()
        return parse_metrics(response.text)

    def ready(self) -> tuple[int, dict[str, Any]]:
        """The status and body of ``/health/ready``."""
        response = _HTTP.get(self.url + "/health/ready")
        return response.status_code, response.json()

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = self.get_json("/health")
        return body

    def live_connections(self) -> int:
        count: int = self.health()["connections"]
        return count

    def live_objects(self) -> dict[str, int]:
        """Tasks and ConnectionStates the server holds (see ``fault_injection.live_objects``)."""
        counts: dict[str, int] = self.get_json(LIVE_OBJECTS_PATH)
        return counts

    def rss_bytes(self) -> int | None:
        """Resident memory of the server process; None where there is no Linux /proc."""
        status_path = Path(f"/proc/{self.process.pid}/status")
        if not status_path.exists():
            return None
        status = status_path.read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The log's lines as JSON objects (the tests' servers log with ``LOG_FORMAT=json``);
        anything else in it (a print, a crash before logging is set up) is left out."""
        records = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def logged(self, event: str, **fields: object) -> list[dict[str, Any]]:
        """The log records of ``event`` (its text, in full) with these ``fields``."""
        return [
            record
            for record in self.log_records()
            if record["event"] == event
            and all(record.get(name) == value for name, value in fields.items())
        ]

    def check_tracebacks(self, log_start: int = 0) -> None:
        """Fail unless the log from ``log_start`` on holds exactly the expected tracebacks, and
        asyncio reported no task destroyed while pending (a task that outlived its connection)."""
        log = self.log()[log_start:]
        assert log.count(TRACEBACK) == self.expected_tracebacks, log
        assert "Task was destroyed but it is pending" not in log, log[-5000:]

    def terminate(self, timeout: float = 10.0) -> int:
        """Send SIGTERM, as a deployment does, and wait for the process to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self._log_file is not None:
                self._log_file.close()


StartServer = Callable[..., ServerProcess]
"""The ``start_server_process`` fixture: start a server with optional settings and extra env."""


def service_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of a process of the service (or its CLI) with ``settings``, named
    without their prefix (``PING_INTERVAL``).{% if cookiecutter.broadcast == "redis" %} A test that wants Redis says where it is.{% endif %}"""
    return {
        **os.environ,
        f"{ENV_PREFIX}LOG_FORMAT": "json",
{% if cookiecutter.auth == "jwt" %}
        f"{ENV_PREFIX}JWT_SECRET": TEST_JWT_SECRET,
{% endif %}
{% if cookiecutter.broadcast == "redis" %}
        f"{ENV_PREFIX}REDIS_URL": NO_REDIS_URL,
{% endif %}
        **{ENV_PREFIX + name: value for name, value in settings.items()},
    }


def start_server(
    log_path: Path, settings: Mapping[str, str], extra_env: Mapping[str, str]
) -> ServerProcess:
    """Start a server and wait until it answers.

    ``settings`` are the service's own variables, named without their prefix (``PING_INTERVAL``);
    ``extra_env`` holds any other variable, such as a fault switch.
    """
    port = free_port()
    env = {
        **service_environment({**settings, "PORT": str(port)}),
        **extra_env,
        "PYTHONUNBUFFERED": "1",
    }
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fault_injection"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(process=process, port=port, log_path=log_path, _log_file=log_file)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            server.terminate()
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            server.health()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.terminate()
                raise RuntimeError(
                    f"server did not answer /health within {STARTUP_TIMEOUT:.0f} s of its"
                    f" start:\n{server.log()}"
                ) from None
            time.sleep(0.05)
        else:
            return server


def open_client(
    server: ServerProcess,
    headers: Mapping[str, str] | None = None,
    origin: str | None = None,
    *,
    compression: bool = False,
) -> connect:
    """A WebSocket client for ``server`` (see ``open_client_at``)."""
    return open_client_at(server.ws_url, headers, origin, compression=compression)


def open_client_at(
    url: str,
    headers: Mapping[str, str] | None = None,
    origin: str | None = None,
    *,
    compression: bool = False,
    **transport: Any,
) -> connect:
    """A WebSocket client for the service at ``url``: no client-side pings or size limit, and
    no compression unless asked (then it offers permessage-deflate, as browsers do).
    ``transport`` goes to the connection as it is (``ssl``, ``local_addr``, ...).

    Like any program, it sends no Origin header unless given one.
{% if cookiecutter.auth == "jwt" %}
    It connects as ``TEST_USER`` unless ``headers`` say otherwise; an empty value leaves a
    header out.
{% endif %}
    """
    return connect(
        url,
        open_timeout=OPEN_TIMEOUT,
        close_timeout=RECEIVE_TIMEOUT,
        ping_interval=None,
        max_size=None,
        compression="deflate" if compression else None,
        origin=None if origin is None else Origin(origin),
{% if cookiecutter.auth == "jwt" %}
        additional_headers={
            name: value for name, value in {**AUTH_HEADERS, **(headers or {})}.items() if value
        },
{% else %}
        additional_headers=headers,
{% endif %}
        **transport,
    )


async def refused_status(
    server: ServerProcess, origin: str | None = None, headers: Mapping[str, str] | None = None
) -> int:
    """The HTTP status of a handshake the server refuses; fails the test if it is accepted."""
    with pytest.raises(InvalidStatus) as refused:
        async with open_client(server, headers, origin):
            pass
    return refused.value.response.status_code


def open_sync_client(server: ServerProcess, max_size: int | None = 2**20) -> SyncClientConnection:
    """A blocking client for ``server`` (for tests driven by hypothesis, which is not async)."""
    return connect_sync(
        server.ws_url,
        open_timeout=OPEN_TIMEOUT,
        compression=None,
        max_size=max_size,
{% if cookiecutter.auth == "jwt" %}
        additional_headers=AUTH_HEADERS,
{% endif %}
    )


async def receive(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
    assert isinstance(frame, dict), frame
    return frame


async def echo(ws: ClientConnection, text: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "echo", "text": text}))
    return await receive(ws)


async def close_code_received(ws: ClientConnection) -> int | None:
    """Wait for the server to close ``ws``; the code of its close frame, None if none came."""
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    await asyncio.wait_for(ws.wait_closed(), RECEIVE_TIMEOUT)
    close_frame = ws.protocol.close_rcvd
    return None if close_frame is None else close_frame.code


async def open_raw_socket(
    server: ServerProcess, receive_buffer: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Do the WebSocket handshake by hand, leaving a bare TCP stream the test controls fully.

    ``receive_buffer`` shrinks the socket's receive buffer (bytes), for a client that reads
    nothing and should fall behind soon.
    """
    raw = socket.socket()
    if receive_buffer is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=raw)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {WEBSOCKET_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
{% if cookiecutter.auth == "jwt" %}
            f"Authorization: {AUTH_HEADERS['Authorization']}\r\n"
{% endif %}
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), RECEIVE_TIMEOUT)
    assert response.startswith(b"HTTP/1.1 101 "), response
    return reader, writer


def masked_frame(opcode: int, payload: bytes, declared_length: int | None = None) -> bytes:
    """A client frame built by hand; ``declared_length`` may promise more than is sent."""
    length = len(payload) if declared_length is None else declared_length
    if length < 126:
        header = bytes([0x80 | opcode, 0x80 | length])
    else:
        header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return header + mask + masked
