"""Helpers for the tests: bounded waits, so a bug fails a test instead of hanging it."""

import time
from collections.abc import Callable, Mapping
{% if cookiecutter.auth == "jwt" %}
from datetime import UTC, datetime, timedelta
{% endif %}
from typing import Any, cast

from litestar import Litestar
from litestar.di import Provide
{% if cookiecutter.auth == "jwt" %}
from litestar.security.jwt import Token
{% endif %}
from litestar.testing import TestClient, WebSocketTestSession
from litestar.types import WebSocketScope
from prometheus_client.parser import text_string_to_metric_families

{% if cookiecutter.auth == "jwt" %}
from {{ cookiecutter.package_name }}.auth import mint_token
{% endif %}
from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH
from {{ cookiecutter.package_name }}.registry import ConnectionRegistry
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.topics import Hub
from {{ cookiecutter.package_name }}.websocket import DirectWebSocket

RECEIVE_TIMEOUT = 5.0
"""Seconds a test waits for any frame or clean-up before it fails: long enough for a CI runner
busy with other work, and a bug still fails the test instead of hanging it."""

ABRUPT_DROP = 1005
"""What a hook sees when a client vanishes without a close frame: uvicorn reports 1005 (no
status received) for a TCP drop after the handshake, so in-process tests simulate it so."""
{% if cookiecutter.broadcast == "redis" %}
NO_REDIS_URL = "redis://127.0.0.1:1/0"
"""Where no Redis listens: tests that need one start their own, never touch a local one."""
{% endif %}
{% if cookiecutter.auth == "jwt" %}
TEST_JWT_SECRET = "test-only-secret-never-use-it-in-production"  # noqa: S105
TEST_USER = "tester"
{% endif %}
{% if cookiecutter.auth == "jwt" and cookiecutter.broadcast == "redis" %}
TEST_SETTINGS = Settings(jwt_secret=TEST_JWT_SECRET, redis_url=NO_REDIS_URL)
{% elif cookiecutter.auth == "jwt" %}
TEST_SETTINGS = Settings(jwt_secret=TEST_JWT_SECRET)
{% elif cookiecutter.broadcast == "redis" %}
TEST_SETTINGS = Settings(redis_url=NO_REDIS_URL)
{% else %}
TEST_SETTINGS = Settings()
{% endif %}
{% if cookiecutter.auth == "jwt" %}


def auth_headers(user: str = TEST_USER) -> dict[str, str]:
    """The header a program sends to connect as ``user``."""
    token = mint_token(TEST_JWT_SECRET, user, timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


AUTH_HEADERS = auth_headers()
"""Headers that connect as ``TEST_USER``."""
{% endif %}


def connect(
    client: TestClient[Litestar], headers: Mapping[str, str] | None = None
) -> WebSocketTestSession:
{% if cookiecutter.auth == "jwt" %}
    """Open a WebSocket to the service as ``TEST_USER``, unless ``headers`` say otherwise."""
    return client.websocket_connect(WEBSOCKET_PATH, headers={**AUTH_HEADERS, **(headers or {})})
{% else %}
    """Open a WebSocket to the service, with extra ``headers`` if given."""
    return client.websocket_connect(WEBSOCKET_PATH, headers=dict(headers or {}))
{% endif %}


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


{% if cookiecutter.auth == "jwt" %}
def bare_socket(user: str) -> DirectWebSocket[str]:
    """A WebSocket over a minimal scope: the scope state, and the user and token that auth
    puts in the scope."""
    now = datetime.now(UTC)
    token = Token(sub=user, iat=now, exp=now + timedelta(hours=1))
    scope = {"type": "websocket", "state": {}, "user": user, "auth": token}
    return DirectWebSocket(cast("WebSocketScope", scope))
{% else %}
def bare_socket() -> DirectWebSocket[Any]:
    """A WebSocket over a minimal scope: enough for code that touches only the scope state."""
    return DirectWebSocket(cast("WebSocketScope", {"type": "websocket", "state": {}}))
{% endif %}


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text as ``{'name{label="value"}': value}``, one entry per sample."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{name}="{value}"' for name, value in sorted(sample.labels.items()))
            samples[sample.name + ("{" + labels + "}" if labels else "")] = sample.value
    return samples


def metrics_of(client: TestClient[Litestar]) -> dict[str, float]:
    """The app's ``/metrics``, parsed."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse_metrics(response.text)


def provided(app: Litestar, name: str) -> object:
    """The app-wide object that ``create_app`` provides to the hooks as ``name``."""
    provider = app.dependencies[name]
    assert isinstance(provider, Provide)
    return provider.dependency()


def registry_of(app: Litestar) -> ConnectionRegistry:
    """The registry that ``create_app`` provides to the hooks as ``connection_registry``."""
    registry = provided(app, "connection_registry")
    assert isinstance(registry, ConnectionRegistry)
    return registry


def hub_of(app: Litestar) -> Hub:
    """The hub of topics that ``create_app`` provides to the hooks as ``hub``."""
    hub = provided(app, "hub")
    assert isinstance(hub, Hub)
    return hub
