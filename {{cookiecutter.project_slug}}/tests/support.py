"""Helpers for the tests: bounded waits, so a bug fails a test instead of hanging it."""

import time
from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient, WebSocketTestSession

RECEIVE_TIMEOUT = 2.0
"""Seconds a test waits for any frame or clean-up before it fails."""


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next JSON frame from the server, or a failed test after ``RECEIVE_TIMEOUT``."""
    frame = ws.receive_json(timeout=RECEIVE_TIMEOUT)
    assert isinstance(frame, dict), frame
    return frame


def live_connections(client: TestClient[Litestar]) -> int:
    """The connection count the app reports on /health."""
    response = client.get("/health")
    assert response.status_code == 200
    count = response.json()["connections"]
    assert isinstance(count, int)
    return count


def wait_until(condition: Callable[[], bool], timeout: float = RECEIVE_TIMEOUT) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; say whether it held.

    The server side of a closed test connection finishes (on_disconnect included) a moment
    after the client's ``with`` block ends, so clean-up is polled for, never assumed.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
