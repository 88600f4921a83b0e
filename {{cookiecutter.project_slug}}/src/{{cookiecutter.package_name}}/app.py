"""Application factory, and the module-level ``app`` that uvicorn serves."""

from pathlib import Path

import msgspec
from litestar import Litestar, MediaType, Response, get
from litestar.di import NamedDependency, Provide
from litestar.logging import LoggingConfig

{% if cookiecutter.auth == "jwt" %}
from .auth import jwt_auth_middleware
{% endif %}
from .broadcast import BusHealth
from .handshake import HandshakePolicy
from .listener import ConnectionListener
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


DEMO_PAGE = Path(__file__).with_name("demo.html").read_text(encoding="utf-8")


@get("/", sync_to_thread=False, include_in_schema=False)
def demo_page() -> Response[str]:
    """A page that talks to the WebSocket endpoint. Delete this and demo.html to drop it."""
    return Response(DEMO_PAGE, media_type=MediaType.HTML)


def app_wide(value: object) -> Provide:
    """A dependency that hands ``value`` itself to every hook and handler that names it."""
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app; settings come from the environment unless given."""
    settings = settings or Settings.from_env()
    # Shared by every connection on purpose: the live connections, and the topics that reach
    # them (broadcasts, too, go through the hub and its bus, broadcast.py).
    registry = ConnectionRegistry()
    hub = Hub(registry, settings)
    return Litestar(
        route_handlers=[health, demo_page, ConnectionListener],
        # Checks on every WebSocket handshake, before accept, in this order: Origin, connection
{% if cookiecutter.auth == "jwt" %}
        # cap, then the token, so that a foreign page is refused before its cookie is even read.
        middleware=[
            HandshakePolicy(settings.allowed_origins, settings.max_connections),
            jwt_auth_middleware(settings),
        ],
{% else %}
        # cap. Authentication would go after them, so that a foreign page is refused first.
        middleware=[HandshakePolicy(settings.allowed_origins, settings.max_connections)],
{% endif %}
        # What every connection shares on purpose, made once above. A hook or an HTTP handler
        # gets one by naming it as a parameter; your own app-wide objects go here too.
        dependencies={
            "settings": app_wide(settings),
            "connection_registry": app_wide(registry),
            "hub": app_wide(hub),
        },
{% if cookiecutter.broadcast == "redis" %}
        # One Redis subscription per process, from start-up to shutdown.
        lifespan=[hub.running],
{% endif %}
        logging_config=LoggingConfig(
            loggers={
                "{{ cookiecutter.package_name }}": {
                    "level": settings.log_level,
                    "handlers": ["queue_listener"],
                    "propagate": False,
                },
            },
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
