"""The service under a real uvicorn, driven by real WebSocket clients over loopback.

These tests start a server process each (see ``conftest.start_server_process``); deselect them
with ``pytest -m "not server"``.
"""

import asyncio
import json
import os
import random
import re
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.sync.client import ClientConnection as SyncClientConnection

{% if cookiecutter.broadcast == "redis" %}
from {{ cookiecutter.package_name }}.broadcast import TOPIC_CHANNEL_PREFIX
{% endif %}
from {{ cookiecutter.package_name }}.messages import ClientMessage, ServerMessage
from {{ cookiecutter.package_name }}.settings import Settings

from .fault_injection import ACCEPT_FAULT_VARIABLE, FAULT_TEXT
{% if cookiecutter.broadcast == "redis" %}
from .redis_server import RedisServer
{% endif %}
from .server import (
    ServerProcess,
    StartServer,
    close_code_received,
    echo,
    masked_frame,
    open_client,
    open_raw_socket,
    open_sync_client,
    receive,
)
from .support import RECEIVE_TIMEOUT, wait_until

pytestmark = pytest.mark.server

MAX_MESSAGE_SIZE = Settings().max_message_size


# Ways a connection can end, as the churn test mixes them.


async def join_a_topic(ws: ClientConnection) -> None:
    """Subscribe to one of a few topics that many connections share."""
    topic = f"churn:{random.randrange(7)}"  # noqa: S311 (not for secrets)
    await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
    assert (await receive(ws))["type"] == "subscribed"


async def end_with_clean_close(server: ServerProcess) -> None:
    async with open_client(server) as ws:
        await receive(ws)
        await join_a_topic(ws)
        assert (await echo(ws, "bye"))["count"] == 2


async def end_with_tcp_drop(server: ServerProcess) -> None:
    ws = await open_client(server)
    try:
        await receive(ws)
        await join_a_topic(ws)
        await echo(ws, "about to vanish")
    finally:
        ws.transport.abort()  # no close frame: uvicorn reports 1005 to the app


async def end_with_drop_mid_message(server: ServerProcess) -> None:
    ws = await open_client(server)
    try:
        await receive(ws)
        # Promise a 1,000-byte frame, send 100 bytes of it, vanish.
        ws.transport.write(masked_frame(0x1, os.urandom(100), declared_length=1000))
    finally:
        ws.transport.abort()


async def end_with_handler_error(server: ServerProcess) -> None:
    async with open_client(server) as ws:
        await receive(ws)
        await join_a_topic(ws)
        await ws.send(json.dumps({"type": "echo", "text": FAULT_TEXT}))
        assert await close_code_received(ws) == 1011


async def end_without_ever_reading(server: ServerProcess) -> None:
    _, writer = await open_raw_socket(server)
    try:
        for index in range(20):
            message = json.dumps({"type": "echo", "text": f"unread {index}"}).encode()
            writer.write(masked_frame(0x1, message))
        await writer.drain()
    finally:
        writer.transport.abort()


ENDINGS: list[Callable[[ServerProcess], Awaitable[None]]] = [
    end_with_clean_close,
    end_with_tcp_drop,
    end_with_drop_mid_message,
    end_with_handler_error,
    end_without_ever_reading,
]


async def churn(server: ServerProcess, connections: int, at_once: int) -> None:
    """Open and end ``connections`` connections, cycling through ENDINGS, ``at_once`` at a time.

    One that fails cancels the others, and every ending closes its socket however it stops: a
    failure here leaves no open socket behind to fail the next test.
    """
    slots = asyncio.Semaphore(at_once)

    async def one(index: int) -> None:
        async with slots:
            await ENDINGS[index % len(ENDINGS)](server)

    async with asyncio.TaskGroup() as endings:
        for index in range(connections):
            endings.create_task(one(index))


def test_connection_ids_are_unique_across_processes(start_server_process: StartServer) -> None:
    """Two processes of one service hand out different ids from their first connection on: an
    id names one connection among all processes (a broadcast's ``from``, a log line)."""
    servers = [start_server_process(), start_server_process()]

    async def first_ids() -> list[str]:
        ids = []
        for server in servers:
            async with open_client(server) as ws:
                ids.append((await receive(ws))["connection_id"])
        return ids

    first, second = asyncio.run(first_ids())

    assert first != second
    assert all(re.fullmatch("[0-9a-f]{32}", id_) for id_ in (first, second))


{% if cookiecutter.broadcast == "redis" %}
def test_churn_leaves_no_state_behind(
    start_server_process: StartServer, redis_server: RedisServer
) -> None:
    """3 x 1,000 connections ended every which way leave no state, no task, no subscription
    (neither in the hub nor in Redis), no growing memory."""
    server = start_server_process({"REDIS_URL": redis_server.url})
    assert wait_until(lambda: server.health()["broadcast"]["available"])
{% else %}
def test_churn_leaves_no_state_behind(start_server_process: StartServer) -> None:
    """3 x 1,000 connections ended every which way leave no state, no task, no subscription,
    no growing memory."""
    server = start_server_process()
{% endif %}
    rounds, connections = 3, 1000
    handler_errors = rounds * (connections // len(ENDINGS))
    server.expected_tracebacks = handler_errors
    tasks_when_idle = server.live_objects()["tasks"]

    rss_after_round = []
    for _ in range(rounds):
        asyncio.run(churn(server, connections, at_once=100))
        assert wait_until(lambda: server.live_connections() == 0, timeout=10)
        rss_after_round.append(server.rss_bytes())

    # Exact: nothing of any connection is left, neither its state nor its tasks.
    assert server.live_objects() == {"tasks": tasks_when_idle, "connection_states": 0, "topics": 0}
{% if cookiecutter.broadcast == "redis" %}
    assert redis_server.channels(TOPIC_CHANNEL_PREFIX + "*") == []
{% endif %}
    # Approximate, for what the exact check cannot see (native memory): after the first round
    # (the allocator warming up) RSS moved in steps of up to 3.5 MiB here, not in a line; a
    # leak of 3 KiB per connection would add 6 MiB over the last 2,000.
    before, last = rss_after_round[0], rss_after_round[-1]
    if before is not None and last is not None:
        growth = last - before
        print(  # noqa: T201 (figures for -s runs)
            f"churn: {rounds} x {connections} connections; server RSS after the first round"
            f" {before / 2**20:.1f} MiB, at the end {last / 2**20:.1f} MiB"
            f" ({growth / 1024:+.0f} KiB)"
        )
        assert growth < 6 * 2**20
    # Logging goes through a queue and a thread: give the last lines a moment to land.
    assert wait_until(lambda: server.log().count("handling a message failed") == handler_errors)


def test_concurrent_connections_never_cross_talk(server: ServerProcess) -> None:
    """200 connections echoing 50 times each, interleaved: every reply belongs to its sender."""

    async def talk(index: int) -> list[dict[str, Any]]:
        async with open_client(server) as ws:
            connection_id = (await receive(ws))["connection_id"]
            replies = [await echo(ws, f"{index}:{number}") for number in range(1, 51)]
        assert all(reply["connection_id"] == connection_id for reply in replies)
        return replies

    async def run() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(*(talk(index) for index in range(200)))

    for index, replies in enumerate(asyncio.run(run())):
        assert [reply["count"] for reply in replies] == list(range(1, 51))
        assert [reply["text"] for reply in replies] == [f"{index}:{n}" for n in range(1, 51)]
    assert wait_until(lambda: server.live_connections() == 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
# The wire types, read from the protocol's own unions: a message type added to messages.py is
# fuzzed, and its replies recognised, with no edit here.
CLIENT_TYPES = [message.__struct_config__.tag for message in get_args(ClientMessage)]
SERVER_TYPES = {message.__struct_config__.tag for message in get_args(ServerMessage)}
message_types = st.sampled_from([*CLIENT_TYPES, *SERVER_TYPES, "", "ECHO"])
frames = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"])),  # any text (WebSocket text is UTF-8)
    st.binary(),  # binary frames
    json_values.map(json.dumps),  # JSON, rarely a message
    st.builds(  # near misses: a known or unknown type with a field of any type
        lambda kind, text: json.dumps({"type": kind, "text": text}),
        message_types | st.text(),
        json_values,
    ),
    st.integers(1, 30_000).map(lambda depth: "[" * depth + "]" * depth),  # deep nesting
    st.integers(1, 9_000).map(  # deep nesting in a field the decoder skips
        lambda depth: (
            '{"type": "echo", "text": "x", "extra": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
        )
    ),
    st.integers(300, 10_000).map(lambda digits: '{"type": "echo", "text": ' + "9" * digits + "}"),
)
# Every frame above stays under max_message_size; larger ones are the size-limit test's.


def next_reply_of_type(ws: SyncClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind``, past any broadcasts (the fuzzer may send some)."""
    while (frame := json.loads(ws.recv(timeout=RECEIVE_TIMEOUT)))["type"] != kind:
        assert frame["type"] == "broadcast", frame
    assert isinstance(frame, dict)
    return frame


def test_fuzzed_frames_get_error_frames_and_harm_no_one(server: ServerProcess) -> None:
    """Whatever a client sends, it gets an error frame (or the replies) and stays connected."""
    examples = 0
    with open_sync_client(server) as bystander:
        json.loads(bystander.recv(timeout=RECEIVE_TIMEOUT))

        with open_sync_client(server, max_size=None) as ws:
            json.loads(ws.recv(timeout=RECEIVE_TIMEOUT))

            @settings(
                max_examples=200,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(frame=frames)
            def check(frame: str | bytes) -> None:
                # An echo of a text of its own marks the end of each frame's replies, however
                # many it has (none, for a message that needs no reply).
                nonlocal examples
                examples += 1
                end_marker = f"end of example {examples}"
                ws.send(frame)
                ws.send(json.dumps({"type": "echo", "text": end_marker}))
                replies = [json.loads(ws.recv(timeout=RECEIVE_TIMEOUT))]
                while replies[-1].get("text") != end_marker or replies[-1]["type"] != "echo":
                    replies.append(json.loads(ws.recv(timeout=RECEIVE_TIMEOUT)))
                for reply in replies:
                    assert reply["type"] in SERVER_TYPES, reply
                    if reply["type"] == "error":
                        assert reply["detail"], reply

            check()

            ws.send(json.dumps({"type": "echo", "text": "still here"}))
            assert next_reply_of_type(ws, "echo")["text"] == "still here"

        bystander.send(json.dumps({"type": "echo", "text": "unaffected"}))
        assert next_reply_of_type(bystander, "echo")["count"] == 1


def test_oversized_frame_closes_with_1009_and_is_released(server: ServerProcess) -> None:
    """A frame over max_message_size closes that connection with 1009; one at the limit is fine."""

    async def run() -> int | None:
        async with open_client(server) as ws:
            await receive(ws)
            envelope = len(json.dumps({"type": "echo", "text": ""}))
            at_limit = await echo(ws, "x" * (MAX_MESSAGE_SIZE - envelope))
            assert at_limit["count"] == 1
            await ws.send(json.dumps({"type": "echo", "text": "x" * MAX_MESSAGE_SIZE}))
            return await close_code_received(ws)

    assert asyncio.run(run()) == 1009
    assert wait_until(lambda: server.live_connections() == 0)


def test_handler_fault_closes_1011_logs_once_and_spares_others(server: ServerProcess) -> None:
    """A bug while handling a message ends that connection only, with 1011 and one log entry."""
    server.expected_tracebacks = 1

    async def run() -> tuple[str, int | None]:
        async with open_client(server) as bystander, open_client(server) as victim:
            await receive(bystander)
            victim_id = (await receive(victim))["connection_id"]
            await victim.send(json.dumps({"type": "echo", "text": FAULT_TEXT}))
            code = await close_code_received(victim)
            assert (await echo(bystander, "unaffected"))["count"] == 1
            assert wait_until(lambda: server.live_connections() == 1)
        return victim_id, code

    victim_id, code = asyncio.run(run())

    assert code == 1011
    assert wait_until(lambda: server.live_connections() == 0)
    injected = "InjectedFaultError: injected fault in message handling"
    assert wait_until(lambda: injected in server.log())
    assert len(server.logged("handling a message failed", connection_id=victim_id)) == 1


def test_on_accept_fault_leaves_no_registration(start_server_process: StartServer) -> None:
    """A fault in on_accept after registering the connection leaves no registry entry behind."""
    server = start_server_process(extra_env={ACCEPT_FAULT_VARIABLE: "1"})
    attempts = 5
    server.expected_tracebacks = attempts

    async def run() -> None:
        for _ in range(attempts):
            async with open_client(server) as ws:
                await close_code_received(ws)

    asyncio.run(run())

    assert wait_until(lambda: server.live_connections() == 0)
    assert wait_until(lambda: server.log().count("set-up failed") == attempts)


def test_dead_peer_is_dropped_after_ping_timeout(start_server_process: StartServer) -> None:
    """A client that stops answering pings is dropped and released: with the settings' short
    interval and timeout, long before the defaults (20 s + 20 s) would have."""
    server = start_server_process({"PING_INTERVAL": "0.2", "PING_TIMEOUT": "0.3"})

    async def run() -> None:
        _, writer = await open_raw_socket(server)  # never reads, so never answers a ping
        try:
            assert wait_until(lambda: server.live_connections() == 1)  # registered after accept
            assert wait_until(lambda: server.live_connections() == 0, timeout=15)
        finally:
            writer.transport.abort()

    asyncio.run(run())


SHUTTING_DOWN = (503, {"ready": False, "reason": "shutting down"})


def test_with_a_drain_sigterm_turns_unready_first_and_open_connections_go_on(
    start_server_process: StartServer,
) -> None:
    """With SHUTDOWN_DRAIN, SIGTERM first turns /health/ready to 503 for that long (a load
    balancer sends new connections elsewhere) while open connections go on; then 1012."""
    server = start_server_process({"SHUTDOWN_DRAIN": "1.5"})

    async def run() -> int | None:
        async with open_client(server) as ws:
            await receive(ws)
            assert server.ready() != SHUTTING_DOWN
            server.process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(wait_until, lambda: server.ready() == SHUTTING_DOWN)
            assert (await echo(ws, "still served"))["text"] == "still served"
            return await close_code_received(ws)

    assert asyncio.run(run()) == 1012
    assert server.process.wait(timeout=RECEIVE_TIMEOUT) == -signal.SIGTERM


def test_sigterm_closes_every_connection_with_1012(start_server_process: StartServer) -> None:
    """On SIGTERM every client gets a 1012 close frame, on_disconnect runs, the process exits."""
    server = start_server_process({"LOG_LEVEL": "DEBUG"})
    clients = 50

    async def run() -> tuple[list[str], list[int | None], float]:
        sockets = [await open_client(server) for _ in range(clients)]
        connection_ids = [(await receive(ws))["connection_id"] for ws in sockets]
        assert server.live_connections() == clients

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(close_code_received(ws) for ws in sockets))
        await asyncio.to_thread(server.process.wait, 10)
        return connection_ids, codes, time.monotonic() - started

    connection_ids, codes, seconds = asyncio.run(run())

    assert codes == [1012] * clients
    # uvicorn shuts down gracefully, then re-raises the signal it caught: death by SIGTERM.
    assert server.process.returncode == -signal.SIGTERM
    assert seconds < 9  # not cut short by the 10 s grace period: every hook had finished
    log = server.log()
    assert "Application shutdown complete" in log
    for connection_id in connection_ids:
        (ended,) = server.logged("connection ended", connection_id=connection_id)
        assert ended["code"] == 1012
