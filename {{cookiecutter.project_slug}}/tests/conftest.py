"""Fixtures: a fresh app and test client per test, and real uvicorn servers on demand."""

from collections.abc import Iterator, Mapping
{% if cookiecutter.broadcast == "redis" %}
from dataclasses import replace
{% endif %}
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from {{ cookiecutter.package_name }}.app import create_app

{% if cookiecutter.broadcast == "redis" %}
from .redis_server import RedisServer
from .server import ServerProcess, StartServer, free_port, start_server
from .support import TEST_SETTINGS, wait_until
{% else %}
from .server import ServerProcess, StartServer, start_server
from .support import TEST_SETTINGS
{% endif %}


@pytest.fixture
def app() -> Litestar:
    return create_app(TEST_SETTINGS)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as client:
        yield client
{% if cookiecutter.broadcast == "redis" %}


@pytest.fixture
def bus_app(redis_server: RedisServer) -> Litestar:
    """The app, with its bus on a Redis of the test's own."""
    return create_app(replace(TEST_SETTINGS, redis_url=redis_server.url))


@pytest.fixture
def bus_client(bus_app: Litestar) -> Iterator[TestClient[Litestar]]:
    """A client of ``bus_app`` once it has subscribed to Redis (it refuses to publish until)."""
    with TestClient(bus_app) as client:
        assert wait_until(lambda: client.get("/health").json()["broadcast"]["available"])
        yield client
{% else %}


@pytest.fixture
def bus_app(app: Litestar) -> Litestar:
    """The app, for tests of its bus (the hub of topics and broadcasts)."""
    return app


@pytest.fixture
def bus_client(client: TestClient[Litestar]) -> TestClient[Litestar]:
    """A client of ``bus_app``."""
    return client
{% endif %}


@pytest.fixture
def start_server_process(tmp_path: Path) -> Iterator[StartServer]:
    """Start dedicated real servers for one test; at its end stop them and check their logs.

    A server that logged a traceback the test did not expect fails the test.
    """
    started: list[ServerProcess] = []

    def start(
        settings: Mapping[str, str] | None = None, extra_env: Mapping[str, str] | None = None
    ) -> ServerProcess:
        log_path = tmp_path / f"server-{len(started)}.log"
        server = start_server(log_path, settings or {}, extra_env or {})
        started.append(server)
        return server

    yield start

    for server in started:
        server.terminate()
    for server in started:
        server.check_tracebacks()


# The shared server's rate limit is out of reach: its tests send hundreds of messages as fast as
# they can. The rate-limit tests start servers of their own, with the default limit.
UNLIMITED_RATE = {"RATE_LIMIT": "1e9", "RATE_BURST": str(10**9)}


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    server = start_server(log_path, UNLIMITED_RATE, {})
    yield server
    server.terminate()


@pytest.fixture
def server(shared_server: ServerProcess) -> Iterator[ServerProcess]:
    """A real server with the default settings (but the rate limit), shared by most tests.

    Starting one per test would cost a second each. A test that provokes tracebacks says how
    many; any other traceback logged during the test fails it.
    """
    log_start = len(shared_server.log())
    shared_server.expected_tracebacks = 0
    yield shared_server
    shared_server.check_tracebacks(log_start)
{% if cookiecutter.broadcast == "redis" %}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own, on a free port; stopped at the test's end."""
    server = RedisServer(port=free_port(), log_path=tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses ``redis_server`` is marked ``redis`` (``-m "not redis"`` skips them)."""
    for item in items:
        if "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)
{% endif %}
