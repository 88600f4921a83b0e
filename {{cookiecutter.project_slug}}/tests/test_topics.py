"""Topics: a message reaches the topic's subscribers and no one else, numbered; subscriptions are
per-connection state, released on every path; every refusal is an error frame naming the topic.
{% if cookiecutter.broadcast == "redis" %}

In-process, with the bus on a real redis-server of the test's own (``bus_app``).
{% endif %}
"""

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from litestar import Litestar, post
from litestar.di import NamedDependency
from litestar.exceptions import (
    ServiceUnavailableException,
    ValidationException,
    WebSocketDisconnect,
)
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import TestClient, WebSocketTestSession

from {{ cookiecutter.package_name }} import listener
from {{ cookiecutter.package_name }}.app import create_app
{% if cookiecutter.broadcast == "redis" %}
from {{ cookiecutter.package_name }}.broadcast import TOPIC_CHANNEL_PREFIX, Bus, Joined
{% else %}
from {{ cookiecutter.package_name }}.broadcast import Bus, Joined
{% endif %}
from {{ cookiecutter.package_name }}.messages import (
    BadTopicName,
    Refused,
    Since,
    TopicMessage,
    encode_server_message,
)
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.topics import Hub

from .fault_injection import FAULT_TEXT, raising_on_fault_text
{% if cookiecutter.broadcast == "redis" %}
from .redis_server import RedisServer
{% endif %}
from .support import (
    ABRUPT_DROP,
    RECEIVE_TIMEOUT,
{% if cookiecutter.auth == "jwt" %}
    auth_headers,
{% endif %}
    connect,
    hub_of,
    live_connections,
    provided,
    receive,
    wait_until,
)

TOPIC = "room:42"


class PublishRequest(msgspec.Struct):
    text: str


# Publishing from an HTTP handler, as the README shows it (plus ``exclude``, for the tests).
@post("/topics/{topic:str}/messages", status_code=202)
async def publish_message(
    topic: FromPath[str],
    data: JSONBody[PublishRequest],
    hub: NamedDependency[Hub],
    exclude: FromQuery[str | None] = None,
) -> None:
    try:
        await hub.publish(topic, data.text, exclude=exclude)
    except BadTopicName as error:
        raise ValidationException(str(error)) from None
    except Refused as refusal:  # the bus is down
        raise ServiceUnavailableException(str(refusal)) from None


def welcomed(ws: WebSocketTestSession) -> str:
    """The connection id from the welcome."""
    connection_id = receive(ws)["connection_id"]
    assert isinstance(connection_id, str)
    return connection_id


def subscribe(ws: WebSocketTestSession, topic: str = TOPIC) -> dict[str, Any]:
    """Subscribe, and return the ``subscribed`` reply."""
    ws.send_json({"type": "subscribe", "topic": topic})
    reply = receive(ws)
    assert reply["type"] == "subscribed", reply
    return reply


def publish(ws: WebSocketTestSession, text: str, topic: str = TOPIC) -> None:
    ws.send_json({"type": "publish", "topic": topic, "text": text})


def gets_nothing_more(ws: WebSocketTestSession) -> bool:
    """Whether the next frame is the reply to a ping: nothing was queued before it."""
    ws.send_json({"type": "ping"})
    return receive(ws) == {"type": "pong"}


def error_detail(ws: WebSocketTestSession, frame: dict[str, Any]) -> str:
    """Send ``frame``; the detail of the error frame it gets."""
    ws.send_json(frame)
    reply = receive(ws)
    assert reply["type"] == "error", reply
    detail = reply["detail"]
    assert isinstance(detail, str)
    return detail


def nothing_left(hub: Hub) -> bool:
    return not list(hub.topics())


def test_subscribed_reply_says_where_the_topic_stands(bus_client: TestClient[Litestar]) -> None:
    """A first subscriber hears offset 0; a later one the offset of the last message."""
    with connect(bus_client) as first, connect(bus_client) as second:
        welcomed(first)
        welcomed(second)
        reply = subscribe(first)
        publish(first, "one")
        publish(first, "two")
        assert [receive(first)["offset"] for _ in range(2)] == [1, 2]
        later = subscribe(second)

    assert reply == {
        "type": "subscribed",
        "topic": TOPIC,
        "epoch": reply["epoch"],
        "offset": 0,
        "recovered": False,
    }
    assert isinstance(reply["epoch"], str)
    assert reply["epoch"]
    assert (later["epoch"], later["offset"]) == (reply["epoch"], 2)


def test_message_reaches_subscribers_only_sender_included(
    bus_client: TestClient[Litestar],
) -> None:
    """Three connections, two subscribed: both get the message, numbered and naming the
    sender; the third gets nothing."""
    with (
        connect(bus_client) as sender,
        connect(bus_client) as listener_ws,
        connect(bus_client) as bystander,
    ):
        sender_id = welcomed(sender)
        welcomed(listener_ws)
        welcomed(bystander)
        subscribe(sender)
        subscribe(listener_ws)
        subscribe(bystander, "room:other")

        publish(sender, "hello, room ✓")
        frames = [receive(sender), receive(listener_ws)]
        assert gets_nothing_more(bystander)
        sender.send_json({"type": "echo", "text": "count"})
        count = receive(sender)["count"]

    expected = {"type": "message", "topic": TOPIC, "offset": 1, "text": "hello, room ✓"}
    assert frames == [{**expected, "from": sender_id}] * 2
    assert count == 3  # subscribe, publish, echo: each a valid message


def test_a_sender_need_not_be_subscribed(bus_client: TestClient[Litestar]) -> None:
    """A connection that publishes on a topic it is not subscribed to does not get the message."""
    with connect(bus_client) as subscriber, connect(bus_client) as outsider:
        welcomed(subscriber)
        outsider_id = welcomed(outsider)
        subscribe(subscriber)
        publish(outsider, "from outside")
        message = receive(subscriber)
        assert gets_nothing_more(outsider)

    assert (message["text"], message["from"]) == ("from outside", outsider_id)


def test_server_code_publishes_from_an_http_handler(bus_app: Litestar) -> None:
    """An HTTP handler publishes with one call: "from": "server"; ``exclude`` leaves one out."""
    bus_app.register(publish_message)
    with TestClient(bus_app) as client, connect(client) as first, connect(client) as second:
        {% if cookiecutter.broadcast == "redis" %}
        assert wait_until(lambda: client.get("/health").json()["broadcast"]["available"])
        {% endif %}
        welcomed(first)
        second_id = welcomed(second)
        subscribe(first)
        subscribe(second)

        response = client.post(f"/topics/{TOPIC}/messages", json={"text": "to everyone"})
        assert response.status_code == 202, response.text
        to_both = [receive(first), receive(second)]
        response = client.post(
            f"/topics/{TOPIC}/messages",
            json={"text": "not to second"},
            params={"exclude": second_id},
        )
        assert response.status_code == 202, response.text
        to_first = receive(first)
        assert gets_nothing_more(second)
        bad_name = client.post("/topics/no spaces/messages", json={"text": "x"})

    assert [frame["from"] for frame in to_both] == ["server", "server"]
    assert [frame["offset"] for frame in to_both] == [1, 1]
    assert (to_first["text"], to_first["offset"]) == ("not to second", 2)
    assert bad_name.status_code == 400
    assert "'no spaces'" in bad_name.json()["detail"]


def test_offsets_count_up_in_order(bus_client: TestClient[Litestar]) -> None:
    """Fifty messages from two senders: every subscriber sees offsets 1..50 in order."""
    with (
        connect(bus_client) as first,
        connect(bus_client) as second,
        connect(bus_client) as watcher,
    ):
        for ws in (first, second, watcher):
            welcomed(ws)
        subscribe(watcher)
        for number in range(25):
            publish(first, f"first {number}")
            publish(second, f"second {number}")
        offsets = [receive(watcher)["offset"] for _ in range(50)]

    assert offsets == list(range(1, 51))


def test_subscribers_joining_mid_stream_get_every_message_after_their_reply(
    bus_app: Litestar,
) -> None:
    """While 300 messages flow, five subscribers join one after another: each gets
    ``subscribed`` first, then every message newer than the offset it names, consecutively,
    none lost or doubled at the seam."""
    settings = provided(bus_app, "settings")
    assert isinstance(settings, Settings)
    flooding = create_app(replace(settings, rate_limit=1e9, rate_burst=10**9))
    with TestClient(flooding) as client, ExitStack() as stack:
        {% if cookiecutter.broadcast == "redis" %}
        assert wait_until(lambda: client.get("/health").json()["broadcast"]["available"])
        {% endif %}
        publisher, *joiners = (stack.enter_context(connect(client)) for _ in range(6))
        for ws in (publisher, *joiners):
            welcomed(ws)
        replies = []
        for joiner in joiners:
            for number in range(60):
                publish(publisher, str(number))
            replies.append(subscribe(joiner))  # while the messages above are being handled
        publish(publisher, "last")
        received = {joiner: [receive(joiner)] for joiner in joiners}
        for joiner, messages in received.items():
            while messages[-1]["text"] != "last":
                messages.append(receive(joiner))

    for reply, messages in zip(replies, received.values(), strict=True):
        offsets = [message["offset"] for message in messages]
        assert offsets == list(range(reply["offset"] + 1, reply["offset"] + 1 + len(offsets)))


def test_a_message_that_comes_while_a_subscriber_joins_follows_its_reply(
    bus_app: Litestar, bus_client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages that reach the hub after the topic's position was read, but before the
    ``subscribed`` reply is out, follow the reply if newer than its offset, and only then."""
    hub = hub_of(bus_app)
    join = Bus.join

    async def join_then_two_messages(bus: Bus, topic: str, since: Since | None) -> Joined:
        joined = await join(bus, topic, since)
        for number, text in (
            (joined.offset, "already counted"),
            (joined.offset + 1, "in the seam"),
        ):
            message = TopicMessage(topic=topic, offset=number, text=text, from_="server")
            hub.deliver(topic, number, encode_server_message(message), None)
        return joined

    monkeypatch.setattr(Bus, "join", join_then_two_messages)
    with connect(bus_client) as ws:
        welcomed(ws)
        reply = subscribe(ws)
        seam = receive(ws)
        assert gets_nothing_more(ws)

    assert (seam["text"], seam["offset"]) == ("in the seam", reply["offset"] + 1)


def test_unsubscribe_stops_the_messages_and_is_idempotent(
    bus_client: TestClient[Litestar],
) -> None:
    """After ``unsubscribe`` (twice, or of a topic never subscribed) nothing more arrives."""
    with connect(bus_client) as subscriber, connect(bus_client) as sender:
        welcomed(subscriber)
        welcomed(sender)
        subscribe(subscriber)
        for _ in range(2):
            subscriber.send_json({"type": "unsubscribe", "topic": TOPIC})
            assert receive(subscriber) == {"type": "unsubscribed", "topic": TOPIC}
        subscriber.send_json({"type": "unsubscribe", "topic": "never:subscribed"})
        assert receive(subscriber)["type"] == "unsubscribed"
        publish(sender, "nobody listens")
        assert gets_nothing_more(subscriber)


def test_subscribing_twice_delivers_once(bus_client: TestClient[Litestar]) -> None:
    """A second ``subscribe`` repeats the reply; each message still arrives once."""
    with connect(bus_client) as ws:
        welcomed(ws)
        first = subscribe(ws)
        again = subscribe(ws)
        publish(ws, "once")
        message = receive(ws)
        assert gets_nothing_more(ws)

    assert again == first
    assert message["offset"] == 1


def test_max_subscriptions_is_enforced(bus_app: Litestar) -> None:
    """One subscription past MAX_SUBSCRIPTIONS gets an error naming the topic and the limit;
    the ones held still work, and one released makes room."""
    settings = provided(bus_app, "settings")
    assert isinstance(settings, Settings)
    limited = create_app(replace(settings, max_subscriptions=2))
    with TestClient(limited) as client, connect(client) as ws:
        {% if cookiecutter.broadcast == "redis" %}
        assert wait_until(lambda: client.get("/health").json()["broadcast"]["available"])
        {% endif %}
        welcomed(ws)
        subscribe(ws, "a")
        subscribe(ws, "b")
        detail = error_detail(ws, {"type": "subscribe", "topic": "c"})
        subscribe(ws, "b")  # already held: not one more
        ws.send_json({"type": "unsubscribe", "topic": "a"})
        receive(ws)
        subscribe(ws, "c")

    assert "'c'" in detail
    assert "MAX_SUBSCRIPTIONS" in detail


@pytest.mark.parametrize(
    "topic",
    ["", "two words", "x" * 101, "room#1", "naïve", "line\nbreak"],
    ids=["empty", "space", "too long", "hash", "non-ascii", "newline"],
)
def test_bad_topic_names_get_an_error_frame(bus_client: TestClient[Litestar], topic: str) -> None:
    """Subscribe, unsubscribe and publish on a bad name: an error naming the topic and the
    rule, and the connection lives on with nothing held."""
    with connect(bus_client) as ws:
        welcomed(ws)
        details = [
            error_detail(ws, {"type": kind, "topic": topic, "text": "x"})
            for kind in ("subscribe", "unsubscribe", "publish")
        ]
        ws.send_json({"type": "echo", "text": "still here"})
        count = receive(ws)["count"]

    for detail in details:
        assert repr(topic[:100]).rstrip("'") in detail
        assert "A-Z a-z 0-9 _ - . : @ /" in detail
    assert count == 1  # no refusal counted
    assert nothing_left(hub_of(bus_client.app))


@pytest.mark.parametrize("frame", [{"type": "subscribe"}, {"type": "publish", "topic": 1}])
def test_malformed_topic_frames_get_an_error_frame(
    bus_client: TestClient[Litestar], frame: dict[str, Any]
) -> None:
    with connect(bus_client) as ws:
        welcomed(ws)
        assert "topic" in error_detail(ws, frame)
        assert gets_nothing_more(ws)
{% if cookiecutter.auth == "jwt" %}


def test_a_user_topic_is_private_to_its_user(bus_client: TestClient[Litestar]) -> None:
    """Only alice may subscribe to user:alice; anyone may publish on it (a direct message)."""
    with (
        connect(bus_client, auth_headers("alice")) as alice,
        connect(bus_client, auth_headers("mallory")) as mallory,
    ):
        welcomed(alice)
        welcomed(mallory)
        subscribe(alice, "user:alice")
        detail = error_detail(mallory, {"type": "subscribe", "topic": "user:alice"})
        publish(mallory, "hi alice", "user:alice")
        direct = receive(alice)
        subscribe(mallory, "user:mallory")

    assert "'user:alice'" in detail
    assert "may_subscribe" in detail
    assert direct["text"] == "hi alice"
{% endif %}


def _close(ws: WebSocketTestSession) -> None:
    ws.close(code=1000)


def _drop(ws: WebSocketTestSession) -> None:
    ws.close(code=ABRUPT_DROP)


def _fail_in_a_hook(ws: WebSocketTestSession) -> None:
    ws.send_json({"type": "echo", "text": FAULT_TEXT})  # reply_to raises: closed with 1011
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json(timeout=RECEIVE_TIMEOUT)
    assert closed.value.code == 1011


@pytest.mark.parametrize(
    "end", [_close, _drop, _fail_in_a_hook], ids=["close", "abrupt drop", "hook error"]
)
def test_subscriptions_are_released_however_the_connection_ends(
    bus_app: Litestar,
    bus_client: TestClient[Litestar],
    monkeypatch: pytest.MonkeyPatch,
    end: Any,
    {% if cookiecutter.broadcast == "redis" %}
    redis_server: RedisServer,
    {% endif %}
) -> None:
    """Every subscription of a connection goes with it: nothing is left in the hub{% if cookiecutter.broadcast == "redis" %} (nor in
    Redis){% endif %}.
    A connection that stays keeps its own."""
    monkeypatch.setattr(listener, "reply_to", raising_on_fault_text(listener.reply_to))
    hub = hub_of(bus_app)
    with connect(bus_client) as staying, ExitStack() as stack:
        welcomed(staying)
        subscribe(staying, "stays")
        leaving = stack.enter_context(connect(bus_client))
        welcomed(leaving)
        for topic in ("stays", TOPIC, "room:43"):
            subscribe(leaving, topic)
        assert hub.subscriber_count("stays") == 2
        end(leaving)
        stack.close()

        assert wait_until(lambda: set(hub.topics()) == {"stays"})
        assert hub.subscriber_count("stays") == 1
        {% if cookiecutter.broadcast == "redis" %}
        assert wait_until(lambda: redis_server.subscribers(TOPIC_CHANNEL_PREFIX + TOPIC) == 0)
        assert redis_server.subscribers(TOPIC_CHANNEL_PREFIX + "stays") == 1
        {% endif %}
        publish(staying, "still subscribed", "stays")
        assert receive(staying)["text"] == "still subscribed"

    assert wait_until(lambda: nothing_left(hub))


@pytest.mark.parametrize(
    ("failure", "close_code"),
    [
        (lambda: WebSocketDisconnect(detail="injected: the client is gone"), None),
        (lambda: RuntimeError("injected: a bug"), 1011),
    ],
    ids=["client gone", "bug"],
)
def test_a_subscribe_that_fails_half_way_holds_nothing(
    bus_app: Litestar,
    bus_client: TestClient[Litestar],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[[], Exception],
    close_code: int | None,
) -> None:
    """The ``subscribed`` reply cannot be sent: nothing is left held. A client that vanished
    (``Outbox.send`` says so with WebSocketDisconnect) just ends, logged as no error; a bug
    closes the connection with 1011 and is logged."""
    hub = hub_of(bus_app)

    async def failing_send(*_: object) -> None:
        raise failure()  # a new exception each time: one kept across tests keeps its frames

    monkeypatch.setattr(Hub, "_send", staticmethod(failing_send))
    with connect(bus_client) as ws:
        welcomed(ws)
        ws.send_json({"type": "subscribe", "topic": TOPIC})
        if close_code is not None:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json(timeout=RECEIVE_TIMEOUT)
            assert closed.value.code == close_code
        # The server has handled the subscribe, and ended the connection, before the test ends.
        assert wait_until(lambda: live_connections(bus_client) == 0)

    assert wait_until(lambda: nothing_left(hub))
    logged_errors = [record for record in caplog.records if record.exc_info]
    assert len(logged_errors) == (0 if close_code is None else 1)
