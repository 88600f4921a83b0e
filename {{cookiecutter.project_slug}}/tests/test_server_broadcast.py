"""Broadcast and topics under a real uvicorn: a client that stops reading is shed and delays no
one; a shed subscriber resumes and recovers what it missed."""

import asyncio
import json
from typing import Any

import pytest

{% if cookiecutter.broadcast == "redis" %}
from .redis_server import RedisServer
{% endif %}
from .server import (
    ServerProcess,
    StartServer,
    masked_frame,
    open_client,
    open_raw_socket,
    receive,
)
from .support import RECEIVE_TIMEOUT, wait_until

pytestmark = pytest.mark.server


@pytest.mark.parametrize("still_sending", [False, True], ids=["silent", "still sending"])
def test_slow_consumer_is_shed_and_delays_no_one(
{% if cookiecutter.broadcast == "redis" %}
    start_server_process: StartServer, redis_server: RedisServer, still_sending: bool
{% else %}
    start_server_process: StartServer, still_sending: bool
{% endif %}
) -> None:
    """A client that stops reading falls behind and is shed: its queue is dropped and it gets
    1013 once it reads again; meanwhile the sender and another receiver wait for nothing. One
    that still sends gets its 1013 too: its reply waits behind the close, then is dropped."""
{% if cookiecutter.broadcast == "redis" %}
    server = start_unlimited(start_server_process, {"REDIS_URL": redis_server.url})
{% else %}
    server = start_unlimited(start_server_process, {})
{% endif %}
    text = "x" * 32_000

    async def run() -> tuple[int, int | None]:
        stuck_reader, stuck = await open_raw_socket(server, receive_buffer=4096)  # reads nothing
        async with open_client(server) as sender, open_client(server) as bystander:
            sender_id = (await receive(sender))["connection_id"]
            await receive(bystander)
            broadcasts = 0
            while "frames behind" not in server.log():
                assert broadcasts < 2_000, "the stuck client was never shed"
                await sender.send(json.dumps({"type": "broadcast", "text": text}))
                for ws in (sender, bystander):
                    frame = await receive(ws)
                    assert (frame["type"], frame["from"]) == ("broadcast", sender_id)
                broadcasts += 1
            if still_sending:
                echo = json.dumps({"type": "echo", "text": "still here"}).encode()
                stuck.write(masked_frame(0x1, echo))
                await stuck.drain()
                await asyncio.sleep(0.2)  # the server has it, and its reply waits
            # Once the stuck client reads again, what it gets ends with a 1013 close frame.
            close_code = await asyncio.wait_for(close_code_after(stuck_reader), 10)
        stuck.transport.abort()
        return broadcasts, close_code

    # No broadcast waited for the stuck client: each reached the sender and the bystander
    # within RECEIVE_TIMEOUT, up to the moment the stuck one was shed.
    broadcasts, close_code = asyncio.run(run())

    print(f"shed after {broadcasts} broadcasts")  # noqa: T201
    assert close_code == 1013
    assert wait_until(lambda: server.live_connections() == 0)


def start_unlimited(start: StartServer, settings: dict[str, str]) -> ServerProcess:
    """A server whose rate limit never stands in a flood's way, once its bus is up."""
    server = start({"RATE_LIMIT": "1e9", "RATE_BURST": str(10**9), **settings})
    assert wait_until(lambda: server.health()["broadcast"]["available"])
    return server


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next server frame (unmasked): its opcode and payload; None at the end of stream."""
    try:
        opcode, length = await asyncio.wait_for(reader.readexactly(2), RECEIVE_TIMEOUT)
        length &= 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        return opcode & 0x0F, await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None


async def close_code_after(reader: asyncio.StreamReader) -> int | None:
    """Read server frames until a close frame; its code, or None at end of stream."""
    while (frame := await read_frame(reader)) is not None:
        opcode, payload = frame
        if opcode == 0x8:  # close
            return int.from_bytes(payload[:2], "big")
    return None


{% if cookiecutter.broadcast == "redis" %}
def test_a_shed_subscriber_resumes_and_recovers(
    start_server_process: StartServer, redis_server: RedisServer
) -> None:
{% else %}
def test_a_shed_subscriber_resumes_and_recovers(start_server_process: StartServer) -> None:
{% endif %}
    """A subscriber that stops reading is shed (1013) as a topic's messages pile up for it; it
    resumes with ``since`` (the last offset it did read) and gets every message after it, from
    the topic's history, consecutively."""
{% if cookiecutter.broadcast == "redis" %}
    settings = {"REDIS_URL": redis_server.url, "HISTORY_SIZE": "1000"}
{% else %}
    settings = {"HISTORY_SIZE": "1000"}
{% endif %}
    server = start_unlimited(start_server_process, settings)
    topic, text = "room:busy", "x" * 8_000

    async def run() -> tuple[dict[str, Any], list[dict[str, Any]], int, dict[str, Any]]:
        stuck_reader, stuck = await open_raw_socket(server, receive_buffer=4096)
        await read_text_frame(stuck_reader)  # the welcome
        subscribe = {"type": "subscribe", "topic": topic}
        stuck.write(masked_frame(0x1, json.dumps(subscribe).encode()))
        reply = await read_text_frame(stuck_reader)
        assert reply is not None
        subscribed = json.loads(reply)
        async with open_client(server) as publisher:
            await receive(publisher)
            published = 0
            while "frames behind" not in server.log():  # the shed warning (outbox.py)
                assert published < 900, "the stuck subscriber was never shed"
                publish = {"type": "publish", "topic": topic, "text": text}
                await publisher.send(json.dumps(publish))
                published += 1
                if published % 20 == 0:
                    await publisher.send(json.dumps({"type": "ping"}))
                    assert await receive(publisher) == {"type": "pong"}
            await publisher.send(json.dumps({"type": "ping"}))
            assert await receive(publisher) == {"type": "pong"}  # every publish is handled
        # What the stuck one gets once it reads again: some messages, then the 1013 close.
        read = []
        while (frame := await read_text_frame(stuck_reader)) is not None:
            read.append(json.loads(frame))
        stuck.transport.abort()
        last_read = read[-1]["offset"] if read else subscribed["offset"]
        since = {"epoch": subscribed["epoch"], "offset": last_read}
        async with open_client(server) as ws:
            await receive(ws)
            await ws.send(json.dumps({**subscribe, "since": since}))
            resumed = await receive(ws)
            missed = [await receive(ws) for _ in range(published - last_read)]
        return resumed, missed, last_read, {"published": published, "read": len(read)}

    resumed, missed, last_read, counts = asyncio.run(run())
    print(f"shed after {counts}")  # noqa: T201
    assert (resumed["type"], resumed["recovered"]) == ("subscribed", True)
    assert [m["offset"] for m in missed] == list(range(last_read + 1, counts["published"] + 1))


async def read_text_frame(reader: asyncio.StreamReader) -> str | None:
    """The next server frame's text; None for a close frame or the end of stream."""
    frame = await read_frame(reader)
    return None if frame is None or frame[0] == 0x8 else frame[1].decode()
