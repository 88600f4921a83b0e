"""The load generator: one process, one event loop, picows clients, against one server.

``run.py`` starts it once per server and round, on its own core, and reads the JSON it prints.
It measures the server's CPU time from /proc, so it needs the server's pid.
"""

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

ECHO = json.dumps({"type": "echo", "text": "hello"}).encode()
BROADCAST = json.dumps({"type": "broadcast", "text": "hello, everyone"}).encode()
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
{% if cookiecutter.auth == "jwt" %}
HEADERS: dict[str, str] = {}
"""Sent with every handshake; ``main`` adds the token."""
{% endif %}


@dataclass
class Phase:
    """One measurement: how many operations, how long, and what it cost on each side."""

    operations: int
    seconds: float
    server_cpu_seconds: float
    client_cpu_seconds: float


class Server:
    """What the load generator can see of the server process: CPU time and memory."""

    def __init__(self, pid: int) -> None:
        self._proc = Path(f"/proc/{pid}")

    def cpu_seconds(self) -> float:
        fields = (self._proc / "stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_SECOND

    def rss_bytes(self) -> int:
        for line in (self._proc / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")


async def measure(server: Server, operations: int, work: Callable[[], Awaitable[None]]) -> Phase:
    server_cpu, client_cpu, started = server.cpu_seconds(), time.process_time(), time.perf_counter()
    await work()
    return Phase(
        operations=operations,
        seconds=time.perf_counter() - started,
        server_cpu_seconds=server.cpu_seconds() - server_cpu,
        client_cpu_seconds=time.process_time() - client_cpu,
    )


class Client(WSListener):
    """One connection: waits for the welcome, then for ``expected`` more frames.

    With a ``message``, it sends that many messages, keeping ``in_flight`` of them unanswered
    (an echo client: one at a time); without, it only listens (a broadcast receiver).
    """

    def __init__(self, expected: int, message: bytes | None = ECHO, in_flight: int = 1) -> None:
        loop = asyncio.get_running_loop()
        self.welcomed: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[bytes] = loop.create_future()
        self.remaining = expected
        self.unsent = expected if message is not None else 0
        self.message = message
        self.in_flight = in_flight
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
            return
        if not self.welcomed.done():
            self.welcomed.set_result(None)
            return
        self.remaining -= 1
        if self.unsent > 0:
            self.send_one()
        if self.remaining == 0 and not self.finished.done():
            self.finished.set_result(frame.get_payload_as_bytes())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        # Whoever still waits fails; a client that waits for nothing (an idle one) stays quiet.
        for future in (self.welcomed, self.finished):
            future.cancel()

    def send_one(self) -> None:
        assert self.message is not None  # noqa: S101 (unsent > 0 only with a message)
        self.unsent -= 1
        self.connected_transport.send(WSMsgType.TEXT, self.message)

    def start(self) -> None:
        """Send the first ``in_flight`` messages; each answer sends the next."""
        for _ in range(min(self.in_flight, self.unsent)):
            self.send_one()

    @property
    def connected_transport(self) -> WSTransport:
        if self.transport is None:
            raise RuntimeError("the client is not connected yet")
        return self.transport

    async def close(self) -> None:
        self.connected_transport.send_close(WSCloseCode.OK)
        self.connected_transport.disconnect()
        await self.connected_transport.wait_disconnected()


async def connect(
    url: str, expected: int = 0, message: bytes | None = ECHO, in_flight: int = 1
) -> Client:
    def new_client() -> Client:
        return Client(expected, message, in_flight)

{% if cookiecutter.auth == "jwt" %}
    _, client = await ws_connect(new_client, url, extra_headers=HEADERS)
{% else %}
    _, client = await ws_connect(new_client, url)
{% endif %}
    if not isinstance(client, Client):
        raise TypeError(f"ws_connect returned {client!r}")
    await asyncio.wait_for(client.welcomed, 10)
    return client


async def connect_many(
    url: str, count: int, expected: int = 0, message: bytes | None = ECHO, at_once: int = 50
) -> list[Client]:
    slots = asyncio.Semaphore(at_once)

    async def one() -> Client:
        async with slots:
            return await connect(url, expected, message)

    return await asyncio.gather(*(one() for _ in range(count)))


async def throughput(url: str, server: Server, connections: int, messages: int) -> Phase:
    """Round trips per second: ``connections`` clients, each with one echo in flight."""
    clients = await connect_many(url, connections, expected=messages)

    async def work() -> None:
        for client in clients:
            client.start()
        last_replies = await asyncio.wait_for(
            asyncio.gather(*(client.finished for client in clients)), 120
        )
        counts = {json.loads(reply)["count"] for reply in last_replies}
        if counts != {messages}:
            raise RuntimeError(f"last replies counted {counts}, expected {messages}")

    phase = await measure(server, connections * messages, work)
    await asyncio.gather(*(client.close() for client in clients))
    return phase


async def connection_rate(url: str, server: Server, connections: int, at_once: int) -> Phase:
    """Connections per second, each: connect, welcome, one echo and its reply, close."""

    async def one_connection() -> None:
        client = await connect(url, expected=1)
        client.start()
        await asyncio.wait_for(client.finished, 10)
        await client.close()

    async def work() -> None:
        slots = asyncio.Semaphore(at_once)

        async def limited() -> None:
            async with slots:
                await one_connection()

        await asyncio.gather(*(limited() for _ in range(connections)))

    return await measure(server, connections, work)


async def reconnect_storm(url: str, server: Server, clients: int) -> Phase:
    """After a restart every client comes back at once: ``clients`` handshakes started together;
    the phase ends when every one of them has its welcome."""
    connected: list[Client] = []

    async def work() -> None:
        connected.extend(await asyncio.gather(*(connect(url) for _ in range(clients))))

    phase = await measure(server, clients, work)
    await asyncio.gather(*(client.close() for client in connected))
    return phase


async def fan_out(url: str, server: Server, receivers: int, broadcasts: int) -> Phase:
    """Broadcasts per second: one sender (10 in flight), ``receivers`` listening connections;
    done when every receiver, and the sender, has every broadcast."""
    listeners = await connect_many(url, receivers, expected=broadcasts, message=None)
    sender = await connect(url, expected=broadcasts, message=BROADCAST, in_flight=10)

    async def work() -> None:
        sender.start()
        everyone = [sender, *listeners]
        last_frames = await asyncio.wait_for(
            asyncio.gather(*(client.finished for client in everyone)), 120
        )
        kinds = {json.loads(frame)["type"] for frame in last_frames}
        if kinds != {"broadcast"}:
            raise RuntimeError(f"broadcasts ended with {kinds} frames: some were refused")

    phase = await measure(server, broadcasts, work)
    await asyncio.gather(*(client.close() for client in [sender, *listeners]))
    return phase


async def idle_memory(url: str, server: Server, connections: int) -> float:
    """Server memory per idle connection, in KiB: RSS growth over ``connections`` open ones."""
    before = server.rss_bytes()
    clients = await connect_many(url, connections)
    await asyncio.sleep(0.5)  # let the server settle after the burst
    after = server.rss_bytes()
    await asyncio.gather(*(client.close() for client in clients))
    return (after - before) / connections / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--connect-count", type=int, required=True)
    parser.add_argument("--connect-at-once", type=int, required=True)
    parser.add_argument("--idle", type=int, required=True)
    parser.add_argument("--receivers", type=int, required=True)
    parser.add_argument("--broadcasts", type=int, required=True)
    parser.add_argument("--storm", type=int, required=True)
{% if cookiecutter.auth == "jwt" %}
    parser.add_argument("--token", required=True, help="JWT sent as Authorization: Bearer")
{% endif %}
    args = parser.parse_args()
{% if cookiecutter.auth == "jwt" %}
    HEADERS["Authorization"] = f"Bearer {args.token}"
{% endif %}
    server = Server(args.server_pid)

    # Warm both sides up (imports, caches, the allocator) before anything is measured.
    await throughput(args.url, server, min(args.connections, 10), min(args.messages, 200))

    result: dict[str, Any] = {
        # First: every later phase leaves freed memory behind that idle connections would reuse,
        # each server a different amount.
        "idle_kib_per_connection": await idle_memory(args.url, server, args.idle),
        "throughput": asdict(await throughput(args.url, server, args.connections, args.messages)),
        "connection_rate": asdict(
            await connection_rate(args.url, server, args.connect_count, args.connect_at_once)
        ),
        "fan_out": asdict(await fan_out(args.url, server, args.receivers, args.broadcasts)),
        "reconnect_storm": asdict(await reconnect_storm(args.url, server, args.storm)),
    }
    print(json.dumps(result))  # noqa: T201 (the report for run.py)


if __name__ == "__main__":
    try:
        import uvloop  # the client's own event loop must not be what limits the measurement
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
