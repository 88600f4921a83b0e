"""The load generator: picows clients against every server in turn, one round (see run.py).

It prints the figures by server, as JSON; each server's CPU time and memory come from /proc.
"""

import asyncio
import json
import os
import time
from argparse import ArgumentParser, Namespace
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

ECHO = json.dumps({"type": "echo", "text": "hello"}).encode()
BROADCAST = json.dumps({"type": "broadcast", "text": "hello, everyone"}).encode()
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
HEADERS: dict[str, str] = {}  # sent with every handshake


@dataclass
class Phase:
    """One measurement: how many operations, how long, and the server's CPU time for them."""

    operations: int = 0
    seconds: float = 0.0
    server_cpu_seconds: float = 0.0

    def figures(self, name: str) -> dict[str, float]:
        return {
            f"{name}s_per_second": self.operations / self.seconds,
            f"cpu_us_per_{name}": self.server_cpu_seconds / self.operations * 1e6,
        }


@dataclass(frozen=True)
class Target:
    """One server under load: its name in the report, its WebSocket URL, its pid."""

    name: str
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND

    def rss_kib(self) -> int:
        return int(Path(f"/proc/{self.pid}/status").read_text().split("VmRSS:")[1].split()[0])


class Client(WSListener):
    """One connection; ``expect(n)`` sends n messages, taking ``messages`` in turn (``in_flight``
    at a time, none if empty), and gives the n-th frame received."""

    def __init__(self, messages: list[bytes], in_flight: int) -> None:
        self.welcomed = asyncio.get_running_loop().create_future()
        self.finished: asyncio.Future[bytes] = self.welcomed
        self.remaining = self.unsent = 0
        self.messages, self.in_flight = messages, in_flight

    def expect(self, frames: int) -> "asyncio.Future[bytes]":
        self.finished = asyncio.get_running_loop().create_future()
        self.remaining, self.unsent = frames, frames if self.messages else 0
        for _ in range(min(self.in_flight, self.unsent)):
            self.send_one()
        return self.finished

    def send_one(self) -> None:
        self.unsent -= 1
        self.transport.send(WSMsgType.TEXT, self.messages[self.unsent % len(self.messages)])

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
        elif not self.welcomed.done():
            self.welcomed.set_result(b"")
        else:
            self.remaining -= 1
            if self.unsent > 0:
                self.send_one()
            if self.remaining == 0:
                self.finished.set_result(frame.get_payload_as_bytes())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.finished.cancel()  # whoever still waits fails

    async def close(self) -> None:
        self.transport.send_close(WSCloseCode.OK)
        self.transport.disconnect()
        await self.transport.wait_disconnected()


async def connect(url: str, message: bytes = ECHO, in_flight: int = 1) -> Client:
    messages = [message] if message else []
    _, client = await ws_connect(lambda: Client(messages, in_flight), url, extra_headers=HEADERS)
    assert isinstance(client, Client)  # noqa: S101 (what the factory above makes)
    await asyncio.wait_for(client.welcomed, 30)
    return client


async def connect_many(url: str, count: int, message: bytes = ECHO) -> list[Client]:
    slots = asyncio.Semaphore(50)

    async def one() -> Client:
        async with slots:
            return await connect(url, message)

    return await asyncio.gather(*(one() for _ in range(count)))


async def subscribe(client: Client, topics: Sequence[str]) -> Client:
    """Subscribe ``client`` (which sends nothing of its own yet) to every topic given."""
    for topic in topics:
        frame = json.dumps({"type": "subscribe", "topic": topic}).encode()
        client.transport.send(WSMsgType.TEXT, frame)
    if json.loads(await client.expect(len(topics)))["type"] != "subscribed":
        raise NotImplementedError("no topics")
    return client


async def close_all(clients: Sequence[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


async def in_blocks(
    targets: Sequence[Target], blocks: int, block: Callable[[Target, int], Awaitable[int]]
) -> dict[str, Phase]:
    """``block`` ``blocks`` times per target, taking turns; a block says how many operations."""
    phases = {target.name: Phase() for target in targets}
    for number in range(blocks):
        for target in [*targets[number % len(targets) :], *targets[: number % len(targets)]]:
            cpu, started = target.cpu_seconds(), time.perf_counter()
            phases[target.name].operations += await block(target, number)
            phases[target.name].seconds += time.perf_counter() - started
            phases[target.name].server_cpu_seconds += target.cpu_seconds() - cpu
    return phases


async def messages(targets: Sequence[Target], run: Namespace) -> dict[str, Phase]:
    """Echo round trips: ``run.connections`` clients per server, one echo in flight each."""
    clients = {target.name: await connect_many(target.url, run.connections) for target in targets}
    per_block: int = max(1, run.messages // run.blocks)

    async def block(target: Target, number: int) -> int:
        finished = [client.expect(per_block) for client in clients[target.name]]
        counts = {json.loads(reply)["count"] for reply in await asyncio.gather(*finished)}
        if counts != {(number + 1) * per_block}:  # each connection counts its own messages
            raise RuntimeError(f"{target.name}: last replies counted {counts}")
        return per_block * len(finished)

    phases = await in_blocks(targets, run.blocks, block)
    await close_all([client for echoing in clients.values() for client in echoing])
    return phases


async def connections(targets: Sequence[Target], run: Namespace) -> dict[str, Phase]:
    """Connections, each: connect, welcome, one echo and its reply, close; 10 at a time."""
    slots = asyncio.Semaphore(10)

    async def one_connection(url: str) -> None:
        async with slots:
            client = await connect(url)
            await client.expect(1)
            await client.close()

    async def block(target: Target, number: int) -> int:
        count: int = max(1, run.connect_count // run.blocks)
        await asyncio.gather(*(one_connection(target.url) for _ in range(count)))
        return count

    return await in_blocks(targets, run.blocks, block)


async def broadcasts(targets: Sequence[Target], run: Namespace) -> dict[str, Phase]:
    """One sender (10 in flight), ``run.receivers`` listeners; each gets every broadcast."""
    everyone: dict[str, list[Client]] = {}
    for target in targets:
        listeners = await connect_many(target.url, run.receivers, message=b"")
        everyone[target.name] = [*listeners, await connect(target.url, BROADCAST, in_flight=10)]
    per_block: int = max(1, run.broadcasts // run.blocks)

    async def block(target: Target, number: int) -> int:
        finished = [client.expect(per_block) for client in everyone[target.name]]  # sender last
        kinds = {json.loads(frame)["type"] for frame in await asyncio.gather(*finished)}
        if kinds != {"broadcast"}:
            raise RuntimeError(f"{target.name}: broadcasts ended with {kinds}: some refused")
        return per_block

    phases = await in_blocks(targets, run.blocks, block)
    await close_all([client for clients in everyone.values() for client in clients])
    return phases


async def topic_fan_out(
    targets: Sequence[Target], run: Namespace, topics: int
) -> dict[str, dict[str, float]]:
    """``run.subscribers`` listeners spread over ``topics`` topics; one publisher (10 in flight,
    subscribed to all, so that its own copies pace it) publishes on each topic in turn. The
    figure: messages delivered to subscribers per second. Servers without topics are left out."""
    names = [f"bench:{number}" for number in range(topics)]
    everyone: dict[str, list[Client]] = {}
    for target in targets:
        listeners = await connect_many(target.url, run.subscribers, message=b"")
        publisher = await connect(target.url, message=b"")
        try:
            await asyncio.gather(
                *(subscribe(c, [names[n % topics]]) for n, c in enumerate(listeners)),
                subscribe(publisher, names),
            )
        except NotImplementedError:
            await close_all([*listeners, publisher])
            continue
        publisher.in_flight = 10
        publisher.messages = [
            json.dumps({"type": "publish", "topic": name, "text": "hello, topic"}).encode()
            for name in names
        ]
        everyone[target.name] = [*listeners, publisher]
    per_block: int = max(1, run.publishes // run.blocks // topics) * topics
    key = "deliveries_per_second_" + ("1_topic" if topics == 1 else "n_topics")

    async def block(target: Target, number: int) -> int:
        *listeners, publisher = everyone[target.name]
        finished = [client.expect(per_block // topics) for client in listeners]
        frames = await asyncio.gather(*finished, publisher.expect(per_block))
        if {json.loads(frame)["type"] for frame in frames} != {"message"}:
            raise RuntimeError(f"{target.name}: topic messages refused")
        return per_block // topics * len(listeners)

    phases = await in_blocks([t for t in targets if t.name in everyone], run.blocks, block)
    await close_all([client for clients in everyone.values() for client in clients])
    return {name: {key: phase.operations / phase.seconds} for name, phase in phases.items()}


async def resumes(targets: Sequence[Target], run: Namespace) -> dict[str, Phase]:
    """A reconnect storm: ``run.resumers`` clients connect at once and resume a topic with
    ``since``, each recovering ``run.missed`` messages. Servers without recovery are left out."""
    phases = {}
    for target in targets:
        publisher = await connect(target.url, message=b"")
        subscribe = {"type": "subscribe", "topic": "bench:storm"}
        publisher.transport.send(WSMsgType.TEXT, json.dumps(subscribe).encode())
        reply = json.loads(await publisher.expect(1))
        publish = {"type": "publish", "topic": "bench:storm", "text": "missed"}
        publisher.messages, publisher.in_flight = [json.dumps(publish).encode()], 10
        await publisher.expect(run.missed)  # it is subscribed: its own copies pace it
        await publisher.close()
        since = {"epoch": reply.get("epoch"), "offset": reply.get("offset")}
        resume = json.dumps({**subscribe, "since": since}).encode()
        probe = await connect(target.url, message=b"")
        probe.transport.send(WSMsgType.TEXT, resume)
        recovered = json.loads(await probe.expect(1)).get("recovered")
        await probe.close()
        if not recovered:
            continue
        cpu, started = target.cpu_seconds(), time.perf_counter()
        clients = await connect_many(target.url, run.resumers, message=b"")
        for client in clients:
            client.transport.send(WSMsgType.TEXT, resume)
        last = await asyncio.gather(*(client.expect(1 + run.missed) for client in clients))
        seconds = time.perf_counter() - started
        if {json.loads(frame)["offset"] for frame in last} != {since["offset"] + run.missed}:
            raise RuntimeError(f"{target.name}: a resume did not recover every message")
        phases[target.name] = Phase(len(clients), seconds, target.cpu_seconds() - cpu)
        await close_all(clients)
    return phases


async def idle_kib_per_connection(target: Target, count: int) -> float:
    """Server memory per open, idle connection: RSS growth over ``count`` of them."""
    before, clients = target.rss_kib(), await connect_many(target.url, count)
    await asyncio.sleep(0.5)  # let the server settle after the burst
    growth = target.rss_kib() - before
    await close_all(clients)
    return growth / count


async def stalls(target: Target, count: int) -> dict[str, float]:
    """Open ``count`` connections while a probe connection echoes every 50 ms: the longest echo
    (how long every connection of the server stalled at worst), and memory per connection."""
    probe, longest, storming = await connect(target.url), 0.0, True

    async def probing() -> None:
        nonlocal longest
        while storming:
            started = time.perf_counter()
            await asyncio.wait_for(probe.expect(1), 60)
            longest = max(longest, time.perf_counter() - started)
            await asyncio.sleep(0.05)

    before, prober = target.rss_kib(), asyncio.create_task(probing())
    clients = await connect_many(target.url, count, message=b"")
    await asyncio.sleep(1)  # some probes with all of them open, too
    storming = False
    await prober
    kib_per_connection = (target.rss_kib() - before) / count
    await close_all([*clients, probe])
    return {"longest_stall_ms": longest * 1000, "kib_per_connection_at_scale": kib_per_connection}


async def main() -> None:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--target", action="append", nargs=3, metavar=("NAME", "PID", "URL"))
    parser.add_argument("--settings", type=json.loads, required=True, help="run.py's, as JSON")
    arguments = parser.parse_args()
    run = Namespace(**arguments.settings)
{% if cookiecutter.auth == "jwt" %}
    HEADERS["Authorization"] = f"Bearer {run.token}"
{% endif %}
    targets = [Target(name, url, int(pid)) for name, pid, url in arguments.target]
    # Warm both sides up (imports, caches, the allocator) before anything is measured; then
    # memory first: every later phase leaves freed memory behind for idle connections to reuse.
    await messages(targets, Namespace(connections=10, messages=100, blocks=1))
    figures = {
        target.name: {"idle_kib_per_connection": await idle_kib_per_connection(target, run.idle)}
        for target in targets
    }
    for phase in (messages, connections, broadcasts, resumes):
        for name, measured in (await phase(targets, run)).items():
            figures[name] |= measured.figures(phase.__name__.removesuffix("s"))
    for topics in (1, run.topics):
        for name, measured_figures in (await topic_fan_out(targets, run, topics)).items():
            figures[name] |= measured_figures
    for target in targets:  # last: the other phases would run beside thousands of connections
        figures[target.name] |= await stalls(target, run.storm)
    print(json.dumps(figures))  # noqa: T201 (read by run.py)


if __name__ == "__main__":
    import uvloop  # (with uvicorn[standard]) the client's loop must not set the pace

    uvloop.run(main())
