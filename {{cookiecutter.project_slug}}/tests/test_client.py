"""The Python client (``client.py``) resumes across a worker restart, under real uvicorns."""

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.client import TopicSubscriber

{% if cookiecutter.broadcast == "redis" %}
from .redis_server import RedisServer
{% endif %}
from .server import ServerProcess, StartServer, open_client, receive
{% if cookiecutter.auth == "jwt" %}
from .support import AUTH_HEADERS, RECEIVE_TIMEOUT, wait_until
{% else %}
from .support import RECEIVE_TIMEOUT, wait_until
{% endif %}

pytestmark = pytest.mark.server

TOPIC = "room:9"


async def next_frame(frames: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(anext(frames), RECEIVE_TIMEOUT * 2)


async def publish(server: ServerProcess, *texts: str) -> None:
    """Publish ``texts`` on TOPIC from a client of ``server``, and wait until they are handled."""
    async with open_client(server) as ws:
        await receive(ws)
        for text in texts:
            await ws.send(json.dumps({"type": "publish", "topic": TOPIC, "text": text}))
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}


def test_the_client_resumes_on_another_worker_after_a_restart(
{% if cookiecutter.broadcast == "redis" %}
    start_server_process: StartServer, redis_server: RedisServer
{% else %}
    start_server_process: StartServer,
{% endif %}
) -> None:
    """The worker the client is on stops (1012); the client connects to the next one and
    resumes with ``since``.
{% if cookiecutter.broadcast == "redis" %}
    The history is in Redis: it gets the missed messages, offsets consecutive.
{% else %}
    With broadcast=local the other worker has its own topics: the client is told
    (``recovered: false``, another epoch), never left with a silent gap.
{% endif %}
    """
{% if cookiecutter.broadcast == "redis" %}
    settings = {"REDIS_URL": redis_server.url, "SHUTDOWN_TIMEOUT": "3"}
{% else %}
    settings = {"SHUTDOWN_TIMEOUT": "3"}
{% endif %}
    first, second = start_server_process(settings), start_server_process(settings)
    assert wait_until(lambda: first.health()["broadcast"]["available"])
    assert wait_until(lambda: second.health()["broadcast"]["available"])
{% if cookiecutter.auth == "jwt" %}
    subscriber = TopicSubscriber([first.ws_url, second.ws_url], [TOPIC], headers=AUTH_HEADERS)
{% else %}
    subscriber = TopicSubscriber([first.ws_url, second.ws_url], [TOPIC])
{% endif %}

    async def run() -> list[dict[str, Any]]:
        frames = subscriber.frames()
        try:
            seen = [await next_frame(frames)]  # subscribed, on the first worker
            await publish(first, "one", "two")
            seen += [await next_frame(frames) for _ in range(2)]
            first.process.send_signal(signal.SIGTERM)  # the client's worker stops: 1012
            await asyncio.to_thread(first.process.wait, RECEIVE_TIMEOUT * 2)
            await publish(second, "while away")
            seen.append(await next_frame(frames))  # subscribed again, on the second worker
            await publish(second, "live")
            seen.append(await next_frame(frames))
{% if cookiecutter.broadcast == "redis" %}
            if seen[-1]["text"] == "while away":  # recovered from the history
                seen.append(await next_frame(frames))
{% endif %}
            return seen
        finally:
            await frames.aclose()

    seen = asyncio.run(run())
    assert subscriber.connections == 2
    told = [frame for frame in seen if frame["type"] == "subscribed"]
    texts = [frame["text"] for frame in seen if frame["type"] == "message"]
{% if cookiecutter.broadcast == "redis" %}
    assert [frame["recovered"] for frame in told] == [False, True]
    assert told[0]["epoch"] == told[1]["epoch"]
    assert texts == ["one", "two", "while away", "live"]
    assert [frame["offset"] for frame in seen if frame["type"] == "message"] == [1, 2, 3, 4]
{% else %}
    assert [frame["recovered"] for frame in told] == [False, False]
    assert told[0]["epoch"] != told[1]["epoch"]
    assert texts == ["one", "two", "live"]
{% endif %}
