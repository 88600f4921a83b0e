"""What the listener promises to whoever customizes it, checked so an edit cannot quietly break it.

Each test here exists for a mistake that passes every functional test: the service still works,
only slower, less safely or by luck.
"""

from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from litestar import Litestar, WebSocket
from litestar.connection.base import ASGIConnection
from litestar.exceptions import ImproperlyConfiguredException
from litestar.testing import TestClient

from {{ cookiecutter.package_name }} import listener
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.listener import ConnectionListener
from {{ cookiecutter.package_name }}.messages import EchoReply
from {{ cookiecutter.package_name }}.registry import ConnectionRegistry
from {{ cookiecutter.package_name }}.state import new_connection_state

from .support import TEST_SETTINGS, bare_socket, connect, receive


def test_a_message_without_a_reply_sends_nothing(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``reply_to`` returns None for "no reply"; no ``null`` frame is sent in its place."""
    real_reply_to = listener.reply_to

    async def reply_to_leaving_echoes_unanswered(*arguments: Any, **keywords: Any) -> Any:
        reply = await real_reply_to(*arguments, **keywords)
        return None if isinstance(reply, EchoReply) else reply

    monkeypatch.setattr(listener, "reply_to", reply_to_leaving_echoes_unanswered)
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "echo", "text": "no answer to this"})
        ws.send_json({"type": "ping"})
        after_the_echo = receive(ws)

    assert after_the_echo == {"type": "pong"}


def test_messages_do_not_read_the_scope_state(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hooks get ConnectionState from the connection's task, which creates it once.
    ``socket.state`` builds a new State wrapper on every read: fine once, not once a message."""
    reads = 0
    scope_state = ASGIConnection.state

    def counted_state(self: ASGIConnection[Any, Any, Any, Any]) -> Any:
        nonlocal reads
        reads += 1
        return scope_state.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(ASGIConnection, "state", property(counted_state))
    with connect(client) as ws:
        receive(ws)
        reads_for_the_connection = reads
        for index in range(20):
            ws.send_json({"type": "echo", "text": str(index)})
            assert receive(ws)["count"] == index + 1

    assert reads == reads_for_the_connection


def test_registry_forgets_a_connection_twice_harmlessly() -> None:
    """Releasing a connection twice is harmless: on_disconnect must be safe to run twice."""
    registry = ConnectionRegistry()
{% if cookiecutter.auth == "jwt" %}
    kept, dropped = (new_connection_state(bare_socket(user), TEST_SETTINGS) for user in "ab")
{% else %}
    kept, dropped = (new_connection_state(bare_socket(), TEST_SETTINGS) for _ in "ab")
{% endif %}
    registry.add(kept)
    registry.add(dropped)

    registry.discard(dropped)
    registry.discard(dropped)

    assert len(registry) == 1
    assert kept.connection_id in registry
    assert dropped.connection_id not in registry


def test_a_connection_opens_no_dependency_task_group(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of lifecycle.py: Litestar resolves no dependencies for a connection, so it opens
    no task group for them (litestar#4563). Fails once Litestar's own loop is back in use."""
    opened = 0

    def counted_create_task_group() -> anyio.abc.TaskGroup:
        nonlocal opened
        opened += 1
        return anyio.create_task_group()

    # Where Litestar's dependency resolution takes its task groups from.
    monkeypatch.setattr(
        "litestar._kwargs.kwargs_model.create_task_group", counted_create_task_group
    )
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}

    assert opened == 0


def test_frames_go_through_the_servers_own_receive_and_send(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Litestar's per-frame wrappers (websocket.py) see the handshake only: the connect event and
    the accept, however many messages follow."""
    wrapped_calls: Counter[str] = Counter()

    def counting(kind: str, wrap: Callable[[WebSocket[Any, Any, Any], Any], Any]) -> Any:
        def counting_wrap(socket: WebSocket[Any, Any, Any], server_callable: Any) -> Any:
            wrapped = wrap(socket, server_callable)

            async def counted(*arguments: Any) -> Any:
                wrapped_calls[kind] += 1
                return await wrapped(*arguments)

            return counted

        return counting_wrap

    monkeypatch.setattr(
        WebSocket, "receive_wrapper", counting("receive", WebSocket.receive_wrapper)
    )
    monkeypatch.setattr(WebSocket, "send_wrapper", counting("send", WebSocket.send_wrapper))
    with connect(client) as ws:
        receive(ws)
        for _ in range(3):
            ws.send_json({"type": "ping"})
            assert receive(ws) == {"type": "pong"}

    assert wrapped_calls == {"receive": 1, "send": 1}


def test_a_websocket_class_without_the_servers_own_receive_and_send_is_refused() -> None:
    """The connection's loop and its outbox use ``DirectWebSocket``'s server receive and send:
    a listener with a plain ``WebSocket`` class fails at start-up, not at its first frame."""

    class ListenerWithPlainSockets(ConnectionListener):
        websocket_class = WebSocket

    app = create_app(TEST_SETTINGS)
    with pytest.raises(ImproperlyConfiguredException, match="DirectWebSocket"):
        app.register(ListenerWithPlainSockets)
