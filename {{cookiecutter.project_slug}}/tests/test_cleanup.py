"""Every connection is released, however it ends, and /health counts only live ones."""

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from {{ cookiecutter.package_name }} import listener
from {{ cookiecutter.package_name }}.outbox import Outbox

from .fault_injection import FAULT_TEXT, InjectedFaultError, raising_on_fault_text
from .support import (
    ABRUPT_DROP,
    RECEIVE_TIMEOUT,
    connect,
    live_connections,
    receive,
    registry_of,
    wait_until,
)


def test_health_counts_open_connections(client: TestClient[Litestar]) -> None:
    """/health reports each open connection, and 0 once all have closed."""
    assert live_connections(client) == 0
    with connect(client) as first:
        receive(first)
        assert live_connections(client) == 1
        with connect(client) as second:
            receive(second)
            assert live_connections(client) == 2
        assert wait_until(lambda: live_connections(client) == 1)

    assert wait_until(lambda: live_connections(client) == 0)
    health = client.get("/health").json()
    assert (health["status"], health["connections"]) == ("ok", 0)


@pytest.mark.parametrize(
    "close_code", [1000, 1001, ABRUPT_DROP], ids=["normal", "going-away", "abrupt"]
)
def test_connection_released_after_close(
    app: Litestar, client: TestClient[Litestar], close_code: int
) -> None:
    """A normal close, a client going away and an abrupt drop all release the connection."""
    registry = registry_of(app)
    with connect(client) as ws:
        connection_id = receive(ws)["connection_id"]
        ws.send_json({"type": "echo", "text": "hi"})
        receive(ws)
        assert connection_id in registry
        ws.close(code=close_code)

    assert wait_until(lambda: connection_id not in registry)
    assert live_connections(client) == 0


def test_connection_released_after_handler_error(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception while handling a message closes that connection with 1011 and releases it."""
    monkeypatch.setattr(listener, "reply_to", raising_on_fault_text(listener.reply_to))

    with connect(client) as ws:
        receive(ws)
        assert live_connections(client) == 1
        ws.send_json({"type": "echo", "text": FAULT_TEXT})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json(timeout=RECEIVE_TIMEOUT)

    assert closed.value.code == 1011
    assert wait_until(lambda: live_connections(client) == 0)
    # The fault this test injects, logged once; not some other error that also gives 1011.
    (failure,) = [record for record in caplog.records if record.exc_info]
    assert failure.exc_info is not None
    assert isinstance(failure.exc_info[1], InjectedFaultError)


def test_failed_accept_leaves_no_registration(
    app: Litestar, client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If on_accept fails after registering, the registration is undone."""
    registry = registry_of(app)
    registered_before_failure: list[int] = []

    async def failing_send(outbox: Outbox, frame: str) -> None:
        registered_before_failure.append(len(registry))
        raise ConnectionResetError("injected: peer vanished before the welcome")

    monkeypatch.setattr(Outbox, "send", failing_send)

    with (
        pytest.raises(WebSocketDisconnect),
        connect(client) as ws,
    ):
        ws.receive_json(timeout=RECEIVE_TIMEOUT)

    assert registered_before_failure == [1]
    assert wait_until(lambda: live_connections(client) == 0)
