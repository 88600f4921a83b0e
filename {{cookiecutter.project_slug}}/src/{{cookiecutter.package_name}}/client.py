"""A Python client for this service's topics that never has a silent gap.

It keeps where it left off on each topic (the epoch and the last offset) and, whenever its
connection ends (a restart's 1012, a shed client's 1013, a network change), connects again,
after a growing, jittered delay, to the next URL given (another worker, or the same load
balancer), and subscribes again with ``since``. The service then sends what was missed, or says
it cannot (``recovered: false``): the caller sees that ``subscribed`` frame and resyncs from
its source of truth. For a worker, a bot, or a test::

    subscriber = TopicSubscriber(["ws://127.0.0.1:8000/ws"], ["room:42"])
    async for frame in subscriber.frames():
        if frame["type"] == "subscribed" and not frame["recovered"]:
            ...  # continuity lost: fetch the current state, then go on
        elif frame["type"] == "message":
            ...  # frame["offset"] follows the last one, always
"""

import asyncio
import itertools
import json
import random
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

FIRST_DELAY = 0.5
"""Seconds before the first reconnect; each one after waits twice as long, up to ``LONGEST``."""
LONGEST_DELAY = 30.0


@dataclass
class TopicSubscriber:
    """Subscribes to ``topics`` and yields what arrives, resuming after every disconnect."""

    urls: Sequence[str]
    """Where the service is; each reconnect tries the next one (round robin)."""
    topics: Sequence[str]
    headers: Mapping[str, str] = field(default_factory=dict)
{% if cookiecutter.auth == "jwt" %}
    """Sent with every handshake, e.g. ``{"Authorization": "Bearer <token>"}``."""
{% else %}
    """Sent with every handshake."""
{% endif %}
    left_off: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per topic, the ``since`` to resume from: ``{"epoch": ..., "offset": ...}``."""
    connections: int = 0
    """How many connections it has made so far."""

    async def frames(self) -> AsyncGenerator[dict[str, Any]]:
        """Every frame from the service but the welcome, across reconnects; runs until the
        caller stops iterating."""
        delay = FIRST_DELAY
        for url in itertools.cycle(self.urls):
            try:
                async with connect(url, additional_headers=dict(self.headers)) as ws:
                    self.connections += 1
                    await ws.recv()  # the welcome
                    for topic in self.topics:
                        await ws.send(json.dumps(self._subscribe(topic)))
                    delay = FIRST_DELAY
                    async for raw in ws:
                        frame = json.loads(raw)
                        self._note(frame)
                        yield frame
            except (ConnectionClosed, InvalidHandshake, OSError):
                pass  # gone, or not there yet: try again
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter only)
            delay = min(delay * 2, LONGEST_DELAY)

    def _subscribe(self, topic: str) -> dict[str, Any]:
        since = self.left_off.get(topic)
        return {"type": "subscribe", "topic": topic, **({"since": since} if since else {})}

    def _note(self, frame: dict[str, Any]) -> None:
        """Keep where this client stands on each topic."""
        if frame["type"] == "subscribed":
            self.left_off[frame["topic"]] = {"epoch": frame["epoch"], "offset": frame["offset"]}
        elif frame["type"] == "message" and frame["topic"] in self.left_off:
            self.left_off[frame["topic"]]["offset"] = frame["offset"]
