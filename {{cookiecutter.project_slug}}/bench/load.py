"""The load generator: one process, one event loop, picows clients, against every server.

``run.py`` starts it once per round, on its own core, with every server running, and reads the
JSON it prints. The servers take turns within each phase, in short blocks (``--blocks``), so a
slow moment of a shared machine falls on all of them alike. It measures each server's CPU time
from /proc, so it needs the servers' pids.
"""

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Sequence
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

    def __add__(self, other: "Phase") -> "Phase":
        return Phase(
            self.operations + other.operations,
            self.seconds + other.seconds,
            self.server_cpu_seconds + other.server_cpu_seconds,
            self.client_cpu_seconds + other.client_cpu_seconds,
        )


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


@dataclass(frozen=True)
class Target:
    """One server under load: its name in the report, its WebSocket URL, its process."""

    name: str
    url: str
    server: Server


def in_turn(targets: Sequence[Target], turn: int) -> list[Target]:
    """Every target, starting with a different one on each turn."""
    first = turn % len(targets)
    return [*targets[first:], *targets[:first]]


async def measure(server: Server, work: Awaitable[int]) -> Phase:
    """Await ``work``, which returns how many operations it did, and measure it."""
    server_cpu, client_cpu, started = server.cpu_seconds(), time.process_time(), time.perf_counter()
    operations = await work
    return Phase(
        operations=operations,
        seconds=time.perf_counter() - started,
        server_cpu_seconds=server.cpu_seconds() - server_cpu,
        client_cpu_seconds=time.process_time() - client_cpu,
    )


class Client(WSListener):
    """One connection: waits for the welcome, then, once told to ``expect`` them, for frames.

    With a ``message``, it sends as many messages as it expects frames, keeping ``in_flight``
    of them unanswered (an echo client: one at a time); without, it only listens (a broadcast
    receiver).
    """

    def __init__(self, message: bytes | None = ECHO, in_flight: int = 1) -> None:
        loop = asyncio.get_running_loop()
        self.welcomed: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[bytes] = loop.create_future()
        self.remaining = 0
        self.unsent = 0
        self.message = message
        self.in_flight = in_flight
        self.transport: WSTransport | None = None

    def expect(self, frames: int) -> "asyncio.Future[bytes]":
        """Wait for ``frames`` more frames, sending as many messages first if it has one; the
        future gets the last frame. ``start`` sends the first messages."""
        self.finished = asyncio.get_running_loop().create_future()
        self.remaining = frames
        self.unsent = frames if self.message is not None else 0
        return self.finished

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


async def connect(url: str, message: bytes | None = ECHO, in_flight: int = 1) -> Client:
    def new_client() -> Client:
        return Client(message, in_flight)

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
    url: str, count: int, message: bytes | None = ECHO, at_once: int = 50
) -> list[Client]:
    slots = asyncio.Semaphore(at_once)

    async def one() -> Client:
        async with slots:
            return await connect(url, message)

    return await asyncio.gather(*(one() for _ in range(count)))


async def close_all(clients: Sequence[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


async def in_blocks(
    targets: Sequence[Target],
    blocks: int,
    block: Callable[[Target, int], Awaitable[int]],
) -> dict[str, Phase]:
    """Run ``block(target, number)`` ``blocks`` times per target, the targets taking turns;
    each block returns how many operations it did. The measurements, summed per target."""
    phases: dict[str, Phase] = {}
    for number in range(blocks):
        for target in in_turn(targets, number):
            phase = await measure(target.server, block(target, number))
            phases[target.name] = phases[target.name] + phase if target.name in phases else phase
    return phases


async def throughput(
    targets: Sequence[Target], connections: int, messages: int, blocks: int
) -> dict[str, Phase]:
    """Round trips per second: ``connections`` clients per server, each with one echo in flight,
    ``messages`` echoes each in all."""
    clients = {target.name: await connect_many(target.url, connections) for target in targets}
    per_block = max(1, messages // blocks)

    async def block(target: Target, number: int) -> int:
        echoing = clients[target.name]
        finished = [client.expect(per_block) for client in echoing]
        for client in echoing:
            client.start()
        last_replies = await asyncio.wait_for(asyncio.gather(*finished), 120)
        # Each connection counts its own messages: per connection, so far, in all blocks.
        counts = {json.loads(reply)["count"] for reply in last_replies}
        if counts != {(number + 1) * per_block}:
            raise RuntimeError(f"{target.name}: last replies counted {counts}")
        return len(echoing) * per_block

    phases = await in_blocks(targets, blocks, block)
    for echoing in clients.values():
        await close_all(echoing)
    return phases


async def connection_rate(
    targets: Sequence[Target], connections: int, at_once: int, blocks: int
) -> dict[str, Phase]:
    """Connections per second, each: connect, welcome, one echo and its reply, close."""
    per_block = max(1, connections // blocks)

    async def one_connection(url: str) -> None:
        client = await connect(url)
        finished = client.expect(1)
        client.start()
        await asyncio.wait_for(finished, 10)
        await client.close()

    async def block(target: Target, number: int) -> int:
        slots = asyncio.Semaphore(at_once)

        async def limited() -> None:
            async with slots:
                await one_connection(target.url)

        await asyncio.gather(*(limited() for _ in range(per_block)))
        return per_block

    return await in_blocks(targets, blocks, block)


async def reconnect_storm(targets: Sequence[Target], clients: int) -> dict[str, Phase]:
    """After a restart every client comes back at once: ``clients`` handshakes started together;
    the phase ends when every one of them has its welcome. One storm per server, in turn."""
    connected: list[Client] = []

    async def storm(target: Target) -> int:
        connected.extend(await asyncio.gather(*(connect(target.url) for _ in range(clients))))
        return clients

    phases: dict[str, Phase] = {}
    for target in targets:
        phases[target.name] = await measure(target.server, storm(target))
        await close_all(connected)
        connected.clear()
    return phases


async def fan_out(
    targets: Sequence[Target], receivers: int, broadcasts: int, blocks: int
) -> dict[str, Phase]:
    """Broadcasts per second: one sender (10 in flight), ``receivers`` listening connections;
    a block is done when every receiver, and the sender, has every broadcast of it."""
    everyone: dict[str, list[Client]] = {}
    for target in targets:
        listeners = await connect_many(target.url, receivers, message=None)
        sender = await connect(target.url, message=BROADCAST, in_flight=10)
        everyone[target.name] = [sender, *listeners]
    per_block = max(1, broadcasts // blocks)

    async def block(target: Target, number: int) -> int:
        sender, *listeners = everyone[target.name]
        finished = [client.expect(per_block) for client in (sender, *listeners)]
        sender.start()
        last_frames = await asyncio.wait_for(asyncio.gather(*finished), 120)
        kinds = {json.loads(frame)["type"] for frame in last_frames}
        if kinds != {"broadcast"}:
            raise RuntimeError(f"{target.name}: broadcasts ended with {kinds}: some were refused")
        return per_block

    phases = await in_blocks(targets, blocks, block)
    for clients in everyone.values():
        await close_all(clients)
    return phases


async def idle_memory(target: Target, connections: int) -> float:
    """Server memory per idle connection, in KiB: RSS growth over ``connections`` open ones."""
    before = target.server.rss_bytes()
    clients = await connect_many(target.url, connections)
    await asyncio.sleep(0.5)  # let the server settle after the burst
    after = target.server.rss_bytes()
    await close_all(clients)
    return (after - before) / connections / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--target", action="append", nargs=3, metavar=("NAME", "PID", "URL"), required=True
    )
    parser.add_argument("--blocks", type=int, required=True, help="turns per phase")
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
    targets = [Target(name, url, Server(int(pid))) for name, pid, url in args.target]

    # Warm both sides up (imports, caches, the allocator) before anything is measured.
    await throughput(targets, min(args.connections, 10), min(args.messages, 200), 1)

    # First: every later phase leaves freed memory behind that idle connections would reuse,
    # each server a different amount.
    idle = {target.name: await idle_memory(target, args.idle) for target in targets}
    phases = {
        "throughput": await throughput(targets, args.connections, args.messages, args.blocks),
        "connection_rate": await connection_rate(
            targets, args.connect_count, args.connect_at_once, args.blocks
        ),
        "fan_out": await fan_out(targets, args.receivers, args.broadcasts, args.blocks),
        "reconnect_storm": await reconnect_storm(targets, args.storm),
    }
    result: dict[str, dict[str, Any]] = {
        target.name: {
            "idle_kib_per_connection": idle[target.name],
            **{phase: asdict(by_target[target.name]) for phase, by_target in phases.items()},
        }
        for target in targets
    }
    print(json.dumps(result))  # noqa: T201 (the report for run.py)


if __name__ == "__main__":
    try:
        import uvloop  # the client's own event loop must not be what limits the measurement
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
