"""Serve the app with uvicorn, configured by the settings: ``python -m <package>``.

Prefer this to a bare ``uvicorn <package>.app:app``: it also applies the settings that live in
the server, not the app (message size limit, keepalive pings, shutdown grace period).
{% if cookiecutter.auth == "jwt" %}

``python -m <package> token alice`` prints a development token for the user ``alice``, signed
with ``JWT_SECRET``.
{% endif %}
"""

{% if cookiecutter.auth == "jwt" %}
import argparse
{% endif %}
import sys
{% if cookiecutter.auth == "jwt" %}
from datetime import timedelta
{% endif %}

import uvicorn
from litestar import Litestar

from .app import create_app
{% if cookiecutter.auth == "jwt" %}
from .auth import mint_token
{% endif %}
from .settings import Settings, SettingsError


def uvicorn_config(settings: Settings, app: Litestar | None = None) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` (by default ``create_app(settings)``)."""
    return uvicorn.Config(
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


def serve(settings: Settings, app: Litestar | None = None) -> None:
    """Run ``app`` (by default ``create_app(settings)``) until SIGINT or SIGTERM."""
    uvicorn.Server(uvicorn_config(settings, app)).run()


def settings_or_exit() -> Settings:
    """The settings from the environment, or exit with the one line that says what is wrong."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        sys.exit(f"error: {error}")


{% if cookiecutter.auth == "jwt" %}
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the app (the default)")
    token = commands.add_parser("token", help="print a development token, signed with JWT_SECRET")
    token.add_argument("user", help="the token's subject, e.g. alice")
    token.add_argument("--minutes", type=int, default=60, help="lifetime (default: 60)")
    arguments = parser.parse_args(argv)
    settings = settings_or_exit()
    if arguments.command == "token":
        lifetime = timedelta(minutes=arguments.minutes)
        print(mint_token(settings.jwt_secret, arguments.user, lifetime))  # noqa: T201
    else:
        serve(settings)
{% else %}
def main() -> None:
    serve(settings_or_exit())
{% endif %}


if __name__ == "__main__":
    main()
