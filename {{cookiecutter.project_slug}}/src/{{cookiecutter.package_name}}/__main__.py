"""Serve the app with uvicorn, configured by the settings: ``python -m <package>``.

Prefer this to a bare ``uvicorn <package>.app:app``: it also applies the settings that live in
the server, not the app (message size limit, keepalive pings, shutdown grace period).
"""

import uvicorn
from litestar import Litestar

from .app import create_app
from .settings import Settings


def serve(settings: Settings, app: Litestar | None = None) -> None:
    """Run ``app`` (by default ``create_app(settings)``) until SIGINT or SIGTERM."""
    uvicorn.run(
        app or create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_message_size,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        # On shutdown uvicorn closes every WebSocket with 1012 (service restart) at once; this
        # bounds the wait for their on_disconnect hooks to finish.
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


def main() -> None:
    serve(Settings.from_env())


if __name__ == "__main__":
    main()
