"""Each connection has its own state: the point of this template."""

import re
from typing import Any, cast

from litestar import Litestar, WebSocket
from litestar.testing import TestClient
from litestar.types import WebSocketScope

from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH
from {{ cookiecutter.package_name }}.state import (
    CONNECTION_STATE_KEY,
    provide_connection_state,
)

from .support import receive

CONNECTION_ID = re.compile(r"[0-9a-f]{32}")


def test_two_connections_get_independent_state(app: Litestar) -> None:
    """Two clients connected at once are welcomed with different connection ids."""
    # Two separate clients, as two users would be. Neither runs the app's lifespan (``with
    # TestClient(...)``): this app needs none, and two lifespans of one app at once leave an
    # unclosed stream behind in Litestar 2.25's test client.
    first_client, second_client = TestClient(app), TestClient(app)
    with (
        first_client.websocket_connect(WEBSOCKET_PATH) as first,
        second_client.websocket_connect(WEBSOCKET_PATH) as second,
    ):
        first_welcome = receive(first)
        second_welcome = receive(second)

    assert first_welcome["type"] == second_welcome["type"] == "welcome"
    assert CONNECTION_ID.fullmatch(first_welcome["connection_id"])
    assert CONNECTION_ID.fullmatch(second_welcome["connection_id"])
    assert first_welcome != second_welcome


def test_interleaved_echoes_count_per_connection(client: TestClient[Litestar]) -> None:
    """Echo counts and ids follow their own connection, however the messages interleave."""
    with (
        client.websocket_connect(WEBSOCKET_PATH) as first,
        client.websocket_connect(WEBSOCKET_PATH) as second,
    ):
        connection_ids = {
            "first": receive(first)["connection_id"],
            "second": receive(second)["connection_id"],
        }
        sockets = {"first": first, "second": second}
        expected_counts = {"first": 0, "second": 0}

        for name in ["first", "second", "first", "first", "second", "first"]:
            expected_counts[name] += 1
            text = f"{name} #{expected_counts[name]}"
            sockets[name].send_json({"type": "echo", "text": text})
            assert receive(sockets[name]) == {
                "type": "echo",
                "text": text,
                "connection_id": connection_ids[name],
                "count": expected_counts[name],
            }

    assert expected_counts == {"first": 4, "second": 2}


def test_new_connection_starts_from_zero(client: TestClient[Litestar]) -> None:
    """A connection opened after another one closed inherits none of its state."""
    with client.websocket_connect(WEBSOCKET_PATH) as earlier:
        earlier_id = receive(earlier)["connection_id"]
        for _ in range(3):
            earlier.send_json({"type": "echo", "text": "x"})
            receive(earlier)

    with client.websocket_connect(WEBSOCKET_PATH) as later:
        later_id = receive(later)["connection_id"]
        later.send_json({"type": "echo", "text": "x"})
        reply = receive(later)

    assert later_id != earlier_id
    assert reply["count"] == 1


def bare_socket() -> WebSocket[Any, Any, Any]:
    """A WebSocket over a minimal scope: enough for code that touches only the scope state."""
    return WebSocket(cast("WebSocketScope", {"type": "websocket", "state": {}}))


def test_connection_state_is_kept_in_each_connections_scope() -> None:
    """The dependency stores a fresh ConnectionState in the scope of the connection it serves."""
    first_socket, second_socket = bare_socket(), bare_socket()

    first_state = provide_connection_state(first_socket)
    second_state = provide_connection_state(second_socket)

    assert first_socket.scope["state"][CONNECTION_STATE_KEY] is first_state
    assert second_socket.scope["state"][CONNECTION_STATE_KEY] is second_state
    assert first_state.connection_id != second_state.connection_id
    assert first_state.messages_received == second_state.messages_received == 0
