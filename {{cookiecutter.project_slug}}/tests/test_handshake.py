"""The handshake checks, before accept: Origin policy and the connection cap.

In-process, a refusal shows as a close code (Litestar's TestClient cannot show an HTTP status);
``test_server_security.py`` checks the HTTP statuses a real client gets.
"""

from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar, WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from {{ cookiecutter.package_name }} import listener
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.handshake import parse_origin
from {{ cookiecutter.package_name }}.messages import ClientMessage, ServerMessage
from {{ cookiecutter.package_name }}.state import ConnectionState

from .support import RECEIVE_TIMEOUT, TEST_SETTINGS, connect, live_connections, receive

# Litestar's TestClient sends this Host header.
OWN_ORIGIN = "http://testserver.local"


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://example.com", "https://example.com"),
        ("HTTPS://Example.COM", "https://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_parse_origin_normalizes(text: str, origin: str) -> None:
    """Scheme and host are lower-cased and a default port is dropped, as browsers send them."""
    assert parse_origin(text) == origin


NOT_ORIGINS = ["*", "null", "", "a.com", "https://", "https://a.com/", "https://a.com?x", "ws://a"]


@pytest.mark.parametrize("text", NOT_ORIGINS)
def test_parse_origin_refuses_what_is_not_an_origin(text: str) -> None:
    """Anything but scheme://host[:port] with http or https is refused with a reason."""
    with pytest.raises(ValueError, match="origin"):
        parse_origin(text)


def refusal_code(client: TestClient[Litestar], headers: dict[str, str] | None = None) -> int:
    """The close code of a handshake the service refuses; fails the test if it is accepted."""
    with pytest.raises(WebSocketDisconnect) as refused, connect(client, headers) as ws:
        ws.receive_json(timeout=RECEIVE_TIMEOUT)
    return refused.value.code


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://testserver.local.evil.example",
        "http://testserver.local:8080",
        "not an origin",
    ],
)
def test_foreign_origin_is_refused_before_accept(client: TestClient[Litestar], origin: str) -> None:
    """A browser page from another origin (or a file:// page, Origin null) cannot connect."""
    assert refusal_code(client, {"Origin": origin}) == 1008
    assert live_connections(client) == 0


@pytest.mark.parametrize("headers", [{}, {"Origin": OWN_ORIGIN}], ids=["no origin", "own origin"])
def test_own_origin_and_no_origin_are_accepted(
    client: TestClient[Litestar], headers: dict[str, str]
) -> None:
    """A page served by the service itself, and a program that sends no Origin, connect."""
    with connect(client, headers) as ws:
        assert receive(ws)["type"] == "welcome"


def test_allowed_origins_are_accepted() -> None:
    """An origin listed in ALLOWED_ORIGINS connects; its neighbours do not."""
    settings = replace(TEST_SETTINGS, allowed_origins=("https://app.example.com",))
    with TestClient(create_app(settings)) as client:
        with connect(client, {"Origin": "https://APP.example.com:443"}) as ws:
            assert receive(ws)["type"] == "welcome"
        assert refusal_code(client, {"Origin": "http://app.example.com"}) == 1008


def test_refused_origin_is_logged_by_name(
    client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    """Each refusal logs one line that names the refused origin."""
    refusal_code(client, {"Origin": "https://evil.example"})

    refusals = [record for record in caplog.records if "refused" in record.getMessage()]
    assert len(refusals) == 1
    assert "'https://evil.example'" in refusals[0].getMessage()


@pytest.fixture
def capped_client() -> Any:
    """A client of an app that holds at most two connections."""
    with TestClient(create_app(replace(TEST_SETTINGS, max_connections=2))) as client:
        yield client


def test_connection_over_the_cap_is_refused_until_one_closes(
    capped_client: TestClient[Litestar],
) -> None:
    """With MAX_CONNECTIONS open, the next handshake is refused; after a close, one gets in."""
    with connect(capped_client) as first:
        receive(first)
        with connect(capped_client) as second:
            receive(second)
            assert refusal_code(capped_client) == 1013
        with connect(capped_client) as third:
            assert receive(third)["type"] == "welcome"


@pytest.mark.parametrize("close_code", [1000, 1006], ids=["close", "abrupt drop"])
def test_cap_slot_comes_back_after_every_kind_of_end(
    capped_client: TestClient[Litestar], close_code: int
) -> None:
    """Connections that end by a close or a drop give their slot back, many times over."""
    for _ in range(5):
        with connect(capped_client) as ws:
            receive(ws)
            ws.close(code=close_code)
    with connect(capped_client) as first, connect(capped_client) as second:
        assert receive(first)["type"] == receive(second)["type"] == "welcome"


def test_cap_slot_comes_back_after_handler_error_and_failed_set_up(
    capped_client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler error and a failed on_accept give the slot back too."""

    def broken_reply_to(message: ClientMessage, connection_state: ConnectionState) -> ServerMessage:
        raise RuntimeError("injected handler fault")

    with monkeypatch.context() as patched:
        patched.setattr(listener, "reply_to", broken_reply_to)
        for _ in range(3):
            with connect(capped_client) as ws:
                receive(ws)
                ws.send_json({"type": "echo", "text": "boom"})
                with pytest.raises(WebSocketDisconnect):
                    ws.receive_json(timeout=RECEIVE_TIMEOUT)

    async def failing_send_json(socket: WebSocket[Any, Any, Any], *args: object) -> None:
        raise ConnectionResetError("injected: peer vanished before the welcome")

    with monkeypatch.context() as patched:
        patched.setattr(WebSocket, "send_json", failing_send_json)
        for _ in range(3):
            with pytest.raises(WebSocketDisconnect), connect(capped_client) as ws:
                ws.receive_json(timeout=RECEIVE_TIMEOUT)

    with connect(capped_client) as first, connect(capped_client) as second:
        assert receive(first)["type"] == receive(second)["type"] == "welcome"
