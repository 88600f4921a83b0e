"""Each connection has its own state: the point of this template."""

import re

from litestar import Litestar
from litestar.testing import TestClient

from {{ cookiecutter.package_name }}.state import (
    CONNECTION_STATE_KEY,
    new_connection_state,
)

{% if cookiecutter.auth == "jwt" %}
from .support import TEST_SETTINGS, auth_headers, bare_socket, connect, receive
{% else %}
from .support import TEST_SETTINGS, bare_socket, connect, receive
{% endif %}

CONNECTION_ID = re.compile(r"[0-9a-f]{32}")


{% if cookiecutter.auth == "jwt" %}
def test_two_connections_get_independent_state(app: Litestar) -> None:
    """Two users connected at once each see their own id and identity, and their own counts."""
{% else %}
def test_two_connections_get_independent_state(app: Litestar) -> None:
    """Two clients connected at once are welcomed with different ids and count on their own."""
{% endif %}
    # Two separate clients, as two users would be. Neither runs the app's lifespan (``with
    # TestClient(...)``): this app needs none, and two lifespans of one app at once leave an
    # unclosed stream behind in Litestar 2.25's test client.
    first_client, second_client = TestClient(app), TestClient(app)
    with (
{% if cookiecutter.auth == "jwt" %}
        connect(first_client, auth_headers("alice")) as first,
        connect(second_client, auth_headers("bob")) as second,
{% else %}
        connect(first_client) as first,
        connect(second_client) as second,
{% endif %}
    ):
        first_welcome = receive(first)
        second_welcome = receive(second)
        first.send_json({"type": "echo", "text": "first"})
        first.send_json({"type": "echo", "text": "first again"})
        second.send_json({"type": "echo", "text": "second"})
        first_replies = [receive(first), receive(first)]
        second_reply = receive(second)

    assert first_welcome["type"] == second_welcome["type"] == "welcome"
    assert CONNECTION_ID.fullmatch(first_welcome["connection_id"])
    assert CONNECTION_ID.fullmatch(second_welcome["connection_id"])
    assert first_welcome["connection_id"] != second_welcome["connection_id"]
{% if cookiecutter.auth == "jwt" %}
    assert (first_welcome["user"], second_welcome["user"]) == ("alice", "bob")
{% endif %}
    assert [reply["count"] for reply in first_replies] == [1, 2]
    assert second_reply["count"] == 1
    assert {reply["connection_id"] for reply in first_replies} == {first_welcome["connection_id"]}
    assert second_reply["connection_id"] == second_welcome["connection_id"]


def test_interleaved_echoes_count_per_connection(client: TestClient[Litestar]) -> None:
    """Echo counts and ids follow their own connection, however the messages interleave."""
    with (
        connect(client) as first,
        connect(client) as second,
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


def test_new_connection_starts_from_zero(client: TestClient[Litestar]) -> None:
    """A connection opened after another one closed inherits none of its state."""
    with connect(client) as earlier:
        earlier_id = receive(earlier)["connection_id"]
        for _ in range(3):
            earlier.send_json({"type": "echo", "text": "x"})
            receive(earlier)

    with connect(client) as later:
        later_id = receive(later)["connection_id"]
        later.send_json({"type": "echo", "text": "x"})
        reply = receive(later)

    assert later_id != earlier_id
    assert reply["count"] == 1


def test_connection_state_is_kept_in_each_connections_scope() -> None:
    """Each connection's fresh ConnectionState is kept in the scope of that connection."""
{% if cookiecutter.auth == "jwt" %}
    first_socket, second_socket = bare_socket("alice"), bare_socket("bob")
{% else %}
    first_socket, second_socket = bare_socket(), bare_socket()
{% endif %}

    first_state = new_connection_state(first_socket, TEST_SETTINGS)
    second_state = new_connection_state(second_socket, TEST_SETTINGS)

    assert first_socket.scope["state"][CONNECTION_STATE_KEY] is first_state
    assert second_socket.scope["state"][CONNECTION_STATE_KEY] is second_state
    assert first_state.connection_id != second_state.connection_id
    assert first_state.messages_received == second_state.messages_received == 0
{% if cookiecutter.auth == "jwt" %}
    assert (first_state.user, second_state.user) == ("alice", "bob")
{% endif %}
    # Each connection spends its own rate-limit budget.
    assert first_state.message_budget is not second_state.message_budget
