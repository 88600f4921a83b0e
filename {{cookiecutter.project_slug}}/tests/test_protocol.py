"""The wire contract: welcome, echo, ping, and an error frame for every kind of bad input."""

import pytest
from litestar import Litestar
from litestar.testing import TestClient

{% if cookiecutter.auth == "jwt" %}
from .support import TEST_USER, connect, receive
{% else %}
from .support import connect, receive
{% endif %}


{% if cookiecutter.auth == "jwt" %}
def test_welcome_names_the_connection_and_its_user(client: TestClient[Litestar]) -> None:
    """The first frame is a welcome carrying the connection id and the token's subject."""
    with connect(client) as ws:
        welcome = receive(ws)

    assert list(welcome) == ["type", "connection_id", "user"]
    assert welcome["type"] == "welcome"
    assert welcome["user"] == TEST_USER
{% else %}
def test_welcome_names_the_connection(client: TestClient[Litestar]) -> None:
    """The first frame is a welcome carrying only the connection id."""
    with connect(client) as ws:
        welcome = receive(ws)

    assert list(welcome) == ["type", "connection_id"]
    assert welcome["type"] == "welcome"
{% endif %}


ECHO_TEXTS = ["hello", "", "  padded\t", "two\nlines", 'quotes " and \\ and ünïcödé ✓', "x" * 1000]
"""Texts an echo must return exactly as sent: whitespace, escapes and length included."""


def test_echo_returns_text_id_and_count(client: TestClient[Litestar]) -> None:
    """An echo comes back unchanged, with this connection's id and its running message count."""
    with connect(client) as ws:
        connection_id = receive(ws)["connection_id"]
        replies = []
        for text in ECHO_TEXTS:
            ws.send_json({"type": "echo", "text": text})
            replies.append(receive(ws))

    assert replies == [
        {"type": "echo", "text": text, "connection_id": connection_id, "count": count}
        for count, text in enumerate(ECHO_TEXTS, start=1)
    ]


def test_ping_gets_pong_and_counts_as_a_message(client: TestClient[Litestar]) -> None:
    """A ping is answered with a pong and counts towards the connection's messages."""
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "ping"})
        pong = receive(ws)
        ws.send_json({"type": "echo", "text": "after ping"})
        echo = receive(ws)

    assert pong == {"type": "pong"}
    assert echo["count"] == 2


BAD_TEXT_FRAMES = {
    "not JSON": ("{oops", "malformed"),
    "truncated JSON": ('{"type": "echo", "text": "hi"', "truncated"),
    "JSON array": ('[{"type": "echo", "text": "hi"}]', "Expected `object`, got `array`"),
    "JSON string": ('"echo"', "Expected `object`, got `str`"),
    "JSON null": ("null", "Expected `object`, got `null`"),
    "unknown type": ('{"type": "shout", "text": "hi"}', "Invalid value 'shout' - at `$.type`"),
    "missing type": ('{"text": "hi"}', "missing required field `type`"),
    "type not a string": ('{"type": 1, "text": "hi"}', "at `$.type`"),
    "missing text": ('{"type": "echo"}', "missing required field `text`"),
    "text not a string": ('{"type": "echo", "text": 42}', "got `int` - at `$.text`"),
    "empty frame": ("", "empty or binary frame"),
}


@pytest.mark.parametrize(
    ("frame", "expected_detail"), list(BAD_TEXT_FRAMES.values()), ids=list(BAD_TEXT_FRAMES)
)
def test_bad_text_frame_gets_error_and_connection_lives_on(
    client: TestClient[Litestar], frame: str, expected_detail: str
) -> None:
    """A bad frame gets an error frame; the connection stays open and its count unchanged."""
    with connect(client) as ws:
        connection_id = receive(ws)["connection_id"]
        ws.send_json({"type": "echo", "text": "before"})
        assert receive(ws)["count"] == 1

        ws.send_text(frame)
        error = receive(ws)

        ws.send_json({"type": "echo", "text": "after"})
        after = receive(ws)

    assert list(error) == ["type", "detail"]
    assert error["type"] == "error"
    assert expected_detail in error["detail"]
    assert after == {"type": "echo", "text": "after", "connection_id": connection_id, "count": 2}


def test_binary_frame_gets_error_and_connection_lives_on(client: TestClient[Litestar]) -> None:
    """A binary frame, even one holding valid JSON, gets an error frame; the connection lives on."""
    with connect(client) as ws:
        connection_id = receive(ws)["connection_id"]
        ws.send_bytes(b'{"type": "echo", "text": "in binary"}')
        error = receive(ws)
        ws.send_json({"type": "echo", "text": "after"})
        after = receive(ws)

    assert error["type"] == "error"
    assert "binary" in error["detail"]
    assert after == {"type": "echo", "text": "after", "connection_id": connection_id, "count": 1}
