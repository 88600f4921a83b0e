"""Application factory, and the module-level ``app`` that uvicorn serves."""

import msgspec
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.logging import LoggingConfig

from .listener import ConnectionListener
from .registry import REGISTRY_STATE_KEY, ConnectionRegistry, provide_connection_registry
from .settings import Settings


class Health(msgspec.Struct):
    status: str
    connections: int


@get("/health", sync_to_thread=False)
def health(connection_registry: NamedDependency[ConnectionRegistry]) -> Health:
    """Liveness, and how many WebSocket connections this process holds."""
    return Health(status="ok", connections=len(connection_registry))


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app; settings come from the environment unless given."""
    settings = settings or Settings.from_env()
    return Litestar(
        route_handlers=[health, ConnectionListener],
        dependencies={
            # One registry per app, so it is looked up once, not for every connection.
            "connection_registry": Provide(
                provide_connection_registry, sync_to_thread=False, use_cache=True
            ),
        },
        # The app state is shared by every connection: only what is shared on purpose goes here.
        state=State({REGISTRY_STATE_KEY: ConnectionRegistry()}),
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


app = create_app()
