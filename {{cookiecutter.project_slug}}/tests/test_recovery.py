"""Resuming a topic: ``subscribe`` with ``since`` gets exactly the messages missed, or is told
(``recovered: false``) that history cannot serve them.
{% if cookiecutter.broadcast == "redis" %}

In-process, with the bus on a real redis-server of the test's own (``bus_app``).
{% endif %}
"""

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient, WebSocketTestSession

from {{ cookiecutter.package_name }} import broadcast
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.settings import Settings

{% if cookiecutter.broadcast == "redis" %}
from .support import connect, provided, receive, wait_until
{% else %}
from .support import connect, provided, receive
{% endif %}

TOPIC = "room:7"


def app_with(bus_app: Litestar, **changes: Any) -> Litestar:
    """An app like ``bus_app`` (on the same bus), with these settings changed."""
    settings = provided(bus_app, "settings")
    assert isinstance(settings, Settings)
    return create_app(replace(settings, rate_limit=1e9, rate_burst=10**9, **changes))


@pytest.fixture
def resumable(bus_app: Litestar) -> Iterator[TestClient[Litestar]]:
    """A client of an app with the default history, and no rate limit in the way."""
    with TestClient(app_with(bus_app)) as client:
        {% if cookiecutter.broadcast == "redis" %}
        assert wait_until(lambda: client.get("/health").json()["broadcast"]["available"])
        {% endif %}
        yield client


def subscribe(ws: WebSocketTestSession, since: dict[str, Any] | None = None) -> dict[str, Any]:
    """Subscribe to TOPIC (resuming from ``since``); the ``subscribed`` reply."""
    ws.send_json({"type": "subscribe", "topic": TOPIC, **({"since": since} if since else {})})
    reply = receive(ws)
    assert reply["type"] == "subscribed", reply
    return reply


def publish(client: TestClient[Litestar], *texts: str) -> None:
    """Publish ``texts`` on TOPIC from a connection of its own, and wait until it is done."""
    with connect(client) as publisher:
        receive(publisher)
        for text in texts:
            publisher.send_json({"type": "publish", "topic": TOPIC, "text": text})
        publisher.send_json({"type": "ping"})
        assert receive(publisher) == {"type": "pong"}  # every publish above is handled


def left_off(client: TestClient[Litestar], texts: list[str]) -> dict[str, Any]:
    """Subscribe, receive ``texts`` published, leave: where this client left off."""
    with connect(client) as ws:
        receive(ws)
        reply = subscribe(ws)
        publish(client, *texts)
        last = [receive(ws) for _ in texts][-1] if texts else {"offset": reply["offset"]}
    return {"epoch": reply["epoch"], "offset": last["offset"]}


def resumed(client: TestClient[Litestar], since: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Subscribe with ``since``; the reply and the texts of what follows it up to "live"."""
    with connect(client) as ws:
        receive(ws)
        reply = subscribe(ws, since)
        publish(client, "live")
        texts = [receive(ws)]
        while texts[-1]["text"] != "live":
            texts.append(receive(ws))
    return reply, texts


def test_a_client_that_resumes_gets_exactly_what_it_missed(
    resumable: TestClient[Litestar],
) -> None:
    """Away for three messages: back with ``since``, it gets those three, then live ones, with
    consecutive offsets."""
    since = left_off(resumable, ["one", "two"])
    publish(resumable, "missed 1", "missed 2", "missed 3")

    reply, messages = resumed(resumable, since)

    assert (reply["recovered"], reply["epoch"], reply["offset"]) == (True, since["epoch"], 5)
    assert [m["text"] for m in messages] == ["missed 1", "missed 2", "missed 3", "live"]
    assert [m["offset"] for m in messages] == [3, 4, 5, 6]


def test_nothing_missed_is_recovered_too(resumable: TestClient[Litestar]) -> None:
    since = left_off(resumable, ["one"])

    reply, messages = resumed(resumable, since)

    assert reply["recovered"] is True
    assert [(m["text"], m["offset"]) for m in messages] == [("live", 2)]


@pytest.mark.parametrize(
    "where",
    ["another epoch", "ahead of the topic", "negative offset"],
)
def test_a_since_the_history_cannot_serve_is_not_recovered(
    resumable: TestClient[Litestar], where: str
) -> None:
    """``recovered: false``, and live messages only: the client resyncs from its source."""
    since = left_off(resumable, ["one", "two"])
    publish(resumable, "missed")
    since = {
        "another epoch": {**since, "epoch": "not-" + since["epoch"]},
        "ahead of the topic": {**since, "offset": 10},
        "negative offset": {**since, "offset": -1},
    }[where]

    reply, messages = resumed(resumable, since)

    assert (reply["recovered"], reply["offset"]) == (False, 3)
    assert [m["text"] for m in messages] == ["live"]


@pytest.mark.parametrize(
    ("changes", "missed", "wait"),
    [
        ({"history_size": 3}, 4, 0.0),
        ({"history_ttl": 0.2}, 1, 0.3),
        ({"history_size": 0}, 0, 0.0),
    ],
    ids=["trimmed", "expired", "history off"],
)
def test_history_that_no_longer_holds_the_missed_messages_is_not_recovered(
    bus_app: Litestar, changes: dict[str, Any], missed: int, wait: float
) -> None:
    with TestClient(app_with(bus_app, **changes)) as client:
        {% if cookiecutter.broadcast == "redis" %}
        assert wait_until(lambda: client.get("/health").json()["broadcast"]["available"])
        {% endif %}
        since = left_off(client, ["one"])
        publish(client, *(f"missed {number}" for number in range(missed)))
        time.sleep(wait)  # past HISTORY_TTL

        reply, messages = resumed(client, since)

    assert reply["recovered"] is False
    assert [m["text"] for m in messages] == ["live"]


def test_recovery_is_capped(
    resumable: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client further behind than RECOVERY_LIMIT is not sent the backlog: ``recovered:
    false`` (a reconnect storm cannot read unbounded history)."""
    monkeypatch.setattr(broadcast, "RECOVERY_LIMIT", 2)
    since = left_off(resumable, ["one"])
    publish(resumable, "missed 1", "missed 2", "missed 3")

    reply, messages = resumed(resumable, since)

    assert reply["recovered"] is False
    assert [m["text"] for m in messages] == ["live"]
