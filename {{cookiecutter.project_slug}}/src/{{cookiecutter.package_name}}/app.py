"""Application factory, and the module-level ``app`` that uvicorn serves."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
from litestar import Litestar, MediaType, Response, get
from litestar.di import NamedDependency, Provide
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler

{% if cookiecutter.auth == "jwt" %}
from .auth import jwt_auth_middleware
{% endif %}
from .broadcast import BusHealth
from .handshake import HandshakePolicy
from .listener import ConnectionListener
from .logs import logging_config
from .metrics import Metrics, metrics_endpoint, prometheus_registry
from .registry import ConnectionRegistry
from .settings import Settings
from .topics import Hub


class Health(msgspec.Struct):
    status: str
    connections: int
    broadcast: BusHealth


@get("/health", sync_to_thread=False)
def health(
    connection_registry: NamedDependency[ConnectionRegistry],
    hub: NamedDependency[Hub],
) -> Health:
    """Liveness, how many WebSocket connections this process holds, and its broadcast backend."""
    return Health(status="ok", connections=len(connection_registry), broadcast=hub.health())


class Readiness(msgspec.Struct):
    ready: bool
    reason: str


class ServiceStatus:
    """Whether this process is on its way out: app-wide, set as the app shuts down."""

    def __init__(self) -> None:
        self.stopping = False

    @contextlib.asynccontextmanager
    async def running(self, *_: object) -> AsyncIterator[None]:
        """App lifespan: from start-up until shutdown begins."""
        try:
            yield
        finally:
            self.stopping = True


@get("/health/ready", sync_to_thread=False)
def ready(
    service_status: NamedDependency[ServiceStatus], hub: NamedDependency[Hub]
) -> Response[Readiness]:
    """Readiness: whether a load balancer should send this process new connections (200) or
    not (503: shutting down{% if cookiecutter.broadcast == "redis" %}, or Redis unreachable{% endif %}). ``/health`` is liveness: restart the
    process only when that one fails."""
    if service_status.stopping:
        readiness = Readiness(ready=False, reason="shutting down")
{% if cookiecutter.broadcast == "redis" %}
    elif not hub.health().available:
        readiness = Readiness(ready=False, reason="Redis is unreachable: broadcasts would be lost")
{% endif %}
    else:
        readiness = Readiness(ready=True, reason="taking connections")
    return Response(
        readiness, status_code=HTTP_200_OK if readiness.ready else HTTP_503_SERVICE_UNAVAILABLE
    )


DEMO_PAGE = Path(__file__).with_name("demo.html").read_text(encoding="utf-8")


@get("/", sync_to_thread=False, include_in_schema=False)
def demo_page() -> Response[str]:
    """A page that talks to the WebSocket endpoint. Delete this and demo.html to drop it."""
    return Response(DEMO_PAGE, media_type=MediaType.HTML)


def app_wide(value: object) -> Provide:
    """A dependency that hands ``value`` itself to every hook and handler that names it."""
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


def create_app(
    settings: Settings | None = None, service_status: ServiceStatus | None = None
) -> Litestar:
    """Build the app; settings come from the environment unless given. ``service_status``
    is the process's own, when the code that runs the server marks its shutdown (__main__)."""
    settings = settings or Settings.from_env()
    # Shared by every connection on purpose: the live connections, and the topics that reach
    # them (broadcasts, too, go through the hub and its bus, broadcast.py).
    registry = ConnectionRegistry()
    metrics = Metrics()
    hub = Hub(registry, settings, metrics)
    service_status = service_status or ServiceStatus()
    route_handlers: list[ControllerRouterHandler] = [health, ready, demo_page, ConnectionListener]
    if settings.metrics:
        route_handlers.append(metrics_endpoint)
    return Litestar(
        route_handlers=route_handlers,
        # Checks on every WebSocket handshake, before accept, in this order: Origin, connection
{% if cookiecutter.auth == "jwt" %}
        # cap, then the token, so that a foreign page is refused before its cookie is even read.
        middleware=[
            HandshakePolicy(settings.allowed_origins, settings.max_connections, metrics),
            jwt_auth_middleware(settings, metrics),
        ],
{% else %}
        # cap. Authentication would go after them, so that a foreign page is refused first.
        middleware=[HandshakePolicy(settings.allowed_origins, settings.max_connections, metrics)],
{% endif %}
        # What every connection shares on purpose, made once above. A hook or an HTTP handler
        # gets one by naming it as a parameter; your own app-wide objects go here too.
        dependencies={
            "settings": app_wide(settings),
            "connection_registry": app_wide(registry),
            "hub": app_wide(hub),
            "metrics": app_wide(metrics),
            "prometheus": app_wide(prometheus_registry(metrics, registry, hub)),
            "service_status": app_wide(service_status),
        },
{% if cookiecutter.broadcast == "redis" %}
        # One Redis subscription per process, from start-up to shutdown.
        lifespan=[hub.running, service_status.running],  # the last is the first to end
{% else %}
        lifespan=[service_status.running],
{% endif %}
        logging_config=logging_config(
            settings.log_format, settings.log_level, package=__name__.partition(".")[0]
        ),
        debug=settings.debug,
    )


def __getattr__(name: str) -> Litestar:
    """The module-level ``app`` that uvicorn serves, built from the environment on first use.

    Built lazily, not at import, so that importing ``create_app`` (tests, tools) needs no
    environment{% if cookiecutter.auth == "jwt" %} (no JWT_SECRET){% endif %}.
    """
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    global app  # built once; later look-ups find it like any module attribute
    app = create_app()
    return app


app: Litestar
