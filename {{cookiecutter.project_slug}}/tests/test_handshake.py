"""The handshake checks, before accept: Origin policy and the connection cap.

In-process, a refusal shows as a close code (Litestar's TestClient cannot show an HTTP status);
``test_server_security.py`` checks the HTTP statuses a real client gets.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.types import Receive, Scope, Send

from {{ cookiecutter.package_name }} import handshake, listener
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.handshake import HandshakePolicy, parse_origin
from {{ cookiecutter.package_name }}.metrics import Metrics
from {{ cookiecutter.package_name }}.outbox import Outbox

from .fault_injection import FAULT_TEXT, InjectedFaultError, raising_on_fault_text
from .support import (
    ABRUPT_DROP,
    RECEIVE_TIMEOUT,
    TEST_SETTINGS,
    connect,
    live_connections,
    receive,
    wait_until,
)

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


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://testserver.local", "testserver.local", True),
        ("http://testserver.local", "TestServer.local:80", True),
        ("https://[::1]", "[::1]:443", True),
        ("http://testserver.local", "testserver.local:8080", False),
        ("http://user@testserver.local", "user@testserver.local", False),
        ("http://testserver.local", None, False),
    ],
)
def test_own_origin_is_the_host_the_client_names(
    origin: str, host: str | None, allowed: bool
) -> None:
    """The Host header names the service's own origin, in whatever form it comes."""
    policy = HandshakePolicy(allowed_origins=(), max_connections=1, metrics=Metrics())
    assert policy.origin_allowed(origin, host) is allowed


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

    refusals = [record for record in caplog.records if record.name == handshake.__name__]
    assert len(refusals) == 1
    assert "'https://evil.example'" in refusals[0].getMessage()


@pytest.fixture
def capped_app() -> Litestar:
    """An app that holds at most two connections."""
    return create_app(replace(TEST_SETTINGS, max_connections=2))


@pytest.fixture
def capped_client(capped_app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(capped_app) as client:
        yield client


def slots_taken(app: Litestar) -> int:
    """Connections the app's handshake policy counts against MAX_CONNECTIONS."""
    (policy,) = (item for item in app.middleware if isinstance(item, HandshakePolicy))
    return policy.open_connections


def slots_freed(app: Litestar) -> bool:
    """Whether every slot has come back; a closed connection's comes back a moment later."""
    return wait_until(lambda: slots_taken(app) == 0)


def test_connection_over_the_cap_is_refused_until_one_closes(
    capped_app: Litestar, capped_client: TestClient[Litestar]
) -> None:
    """With MAX_CONNECTIONS open, the next handshake is refused; after a close, one gets in."""
    with connect(capped_client) as first:
        receive(first)
        with connect(capped_client) as second:
            receive(second)
            assert slots_taken(capped_app) == 2
            assert refusal_code(capped_client) == 1013
        assert wait_until(lambda: slots_taken(capped_app) == 1)
        with connect(capped_client) as third:
            assert receive(third)["type"] == "welcome"


@pytest.mark.parametrize("close_code", [1000, ABRUPT_DROP], ids=["close", "abrupt drop"])
def test_cap_slot_comes_back_after_every_kind_of_end(
    capped_app: Litestar, capped_client: TestClient[Litestar], close_code: int
) -> None:
    """Connections that end by a close or a drop give their slot back, many times over."""
    for _ in range(5):
        with connect(capped_client) as ws:
            receive(ws)
            ws.close(code=close_code)
        assert slots_freed(capped_app)
    with connect(capped_client) as first, connect(capped_client) as second:
        assert receive(first)["type"] == receive(second)["type"] == "welcome"


def test_cap_slot_comes_back_after_handler_error_and_failed_set_up(
    capped_app: Litestar,
    capped_client: TestClient[Litestar],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler error and a failed on_accept give the slot back too."""
    with monkeypatch.context() as patched:
        patched.setattr(listener, "reply_to", raising_on_fault_text(listener.reply_to))
        for _ in range(3):
            with connect(capped_client) as ws:
                receive(ws)
                ws.send_json({"type": "echo", "text": FAULT_TEXT})
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json(timeout=RECEIVE_TIMEOUT)
            assert closed.value.code == 1011
            assert slots_freed(capped_app)
    # Each 1011 came from the injected fault, not from some other failure.
    faults = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert len(faults) == 3
    assert all(isinstance(fault, InjectedFaultError) for fault in faults)

    async def failing_send(outbox: Outbox, frame: str) -> None:
        raise ConnectionResetError("injected: peer vanished before the welcome")

    with monkeypatch.context() as patched:
        patched.setattr(Outbox, "send", failing_send)
        for _ in range(3):
            with pytest.raises(WebSocketDisconnect), connect(capped_client) as ws:
                ws.receive_json(timeout=RECEIVE_TIMEOUT)
            assert slots_freed(capped_app)

    with connect(capped_client) as first, connect(capped_client) as second:
        assert receive(first)["type"] == receive(second)["type"] == "welcome"


def test_cap_slot_comes_back_when_the_app_behind_the_policy_raises() -> None:
    """The slot is given back however the connection's handling ends, an exception included
    (Litestar's exception middleware catches those today; the policy must not rely on it)."""
    policy = HandshakePolicy(allowed_origins=(), max_connections=1, metrics=Metrics())
    scope = cast("Scope", {"type": "websocket", "headers": []})
    sent: list[str] = []

    async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
        raise InjectedFaultError("the app behind the policy failed")

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    async def send(event: Any) -> None:
        sent.append(event["type"])  # only a refusal sends anything here

    async def run() -> None:
        for _ in range(3):  # one slot: a slot kept by the first would refuse the second
            with pytest.raises(InjectedFaultError):
                await policy.handle(scope, receive, send, failing_app)

    asyncio.run(run())
    assert policy.open_connections == 0
    assert sent == []
