"""Serve the app with uvicorn, configured by the settings: ``python -m <package>``.

Prefer this to a bare ``uvicorn <package>.app:app``: it also applies the settings that live in
the server, not the app (message size limit, compression, keepalive pings, shutdown grace
period), and tunes the garbage collector for many connections (``quiet_garbage_collector``).
{% if cookiecutter.auth == "jwt" %}

``python -m <package> token alice`` prints a development token for the user ``alice``, signed
with ``JWT_SECRET``.
{% endif %}
{% if cookiecutter.broadcast == "redis" %}

``python -m <package> publish room:42 "hello"`` publishes on a topic of the running service,
through Redis, without running the app: its subscribers in every process get the message, with
``"from": "server"``.
{% endif %}
"""

import argparse
{% if cookiecutter.broadcast == "redis" %}
import asyncio
{% endif %}
import gc
import logging
import signal
import sys
import time
{% if cookiecutter.auth == "jwt" %}
from datetime import timedelta
{% endif %}
from types import FrameType

import uvicorn
from litestar import Litestar

from .app import ServiceStatus, create_app
{% if cookiecutter.auth == "jwt" %}
from .auth import mint_token
{% endif %}
{% if cookiecutter.broadcast == "redis" %}
from .broadcast import publish_once
from .messages import Refused
{% endif %}
{% if cookiecutter.broadcast == "redis" %}
from .settings import Settings, SettingsError, publisher_settings_from_env
{% else %}
from .settings import Settings, SettingsError
{% endif %}


def uvicorn_config(settings: Settings, app: Litestar | None = None) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` (by default ``create_app(settings)``)."""
    return uvicorn.Config(
        app or create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_message_size,
        # The limit holds for the inflated size too: a small compressed frame that inflates past
        # it closes with 1009 as soon as it does, before it is all in memory.
        ws_per_message_deflate=settings.compression,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        # On shutdown uvicorn closes every WebSocket with 1012 (service restart) at once; this
        # bounds the wait for their on_disconnect hooks to finish.
        timeout_graceful_shutdown=settings.shutdown_timeout,
        # The app configures uvicorn's loggers too, in its LOG_FORMAT (logs.py).
        log_config=None,
    )


logger = logging.getLogger(f"{__package__}.shutdown")  # (this module is "__main__" when run)

GC_THRESHOLDS = (50_000, 50, 1_000)
"""Python's defaults are (700, 10, 10)."""


def quiet_garbage_collector() -> None:
    """Keep the garbage collector from stalling every connection while thousands connect.

    Each connection holds about a hundred objects the collector tracks. With Python's default
    thresholds, a storm of 10,000 connections set off full collections over all of them, up to
    a second each, during which no connection of the process got a frame. Measured with the
    benchmark's stall phase (bench/README.md): the longest echo went from 360-990 ms to 15-50 ms.

    - What exists once the app is built lives as long as the process: ``gc.freeze()`` takes it
      out of every later collection.
    - Young collections run after 50,000 new objects instead of 700, and older ones far less
      often. Objects freed by reference counting (nearly all) are freed at once as ever; only
      reference cycles wait longer to be collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, answering SIGTERM by going unready for ``SHUTDOWN_DRAIN`` seconds
    first: ``/health/ready`` says 503, so the load balancer sends new connections elsewhere,
    while the open ones go on. Then the usual shutdown (1012 to every WebSocket). A second
    signal, or Ctrl-C, stops at once."""

    def __init__(self, config: uvicorn.Config, service_status: ServiceStatus, drain: float) -> None:
        super().__init__(config)
        self.service_status = service_status
        self.drain = drain
        self.pending_exit: tuple[int, FrameType | None] | None = None
        self.drained_at = 0.0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain > 0 and self.pending_exit is None:
            self.service_status.stopping = True
            self.pending_exit, self.drained_at = (sig, frame), time.monotonic() + self.drain
            logger.info("SIGTERM: /health/ready says 503 for %.0f s, then shutdown", self.drain)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.pending_exit is not None and time.monotonic() >= self.drained_at:
            super().handle_exit(*self.pending_exit)
            self.pending_exit = None
        return await super().on_tick(counter)


def serve(
    settings: Settings, app: Litestar | None = None, service_status: ServiceStatus | None = None
) -> None:
    """Run ``app`` until SIGINT or SIGTERM; by default ``create_app(settings)``, else one made
    with ``service_status``, which the shutdown drain turns unready."""
    if app is None:
        service_status = ServiceStatus()
        app = create_app(settings, service_status)
    config = uvicorn_config(settings, app)
    quiet_garbage_collector()  # once the app and the server's configuration are built
    if service_status is None:
        uvicorn.Server(config).run()
    else:
        DrainingServer(config, service_status, settings.shutdown_drain).run()


def settings_or_exit() -> Settings:
    """The settings from the environment, or exit with the one line that says what is wrong."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        sys.exit(f"error: {error}")


{% if cookiecutter.broadcast == "redis" %}
def publish(topic: str, text: str) -> None:
    """Publish ``text`` on ``topic`` through ``REDIS_URL``, or exit with the one line that says
    why it failed. It needs no other setting but the history's: a worker that publishes has no
    JWT secret."""
    try:
        redis_url, history = publisher_settings_from_env()
        offset = asyncio.run(publish_once(redis_url, topic, text, history))
    except SettingsError as error:
        sys.exit(f"error: {error}")
    except Refused as refusal:
        sys.exit(f"error: {refusal}")
    except Exception as error:  # Redis's errors, said in one line
        sys.exit(f"error: publish on {topic!r} failed: Redis did not take it ({error!r})")
    print(f"published on {topic!r} at offset {offset}")  # noqa: T201


{% endif %}
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the app (the default)")
{% if cookiecutter.auth == "jwt" %}
    token = commands.add_parser("token", help="print a development token, signed with JWT_SECRET")
    token.add_argument("user", help="the token's subject, e.g. alice")
    token.add_argument("--minutes", type=int, default=60, help="lifetime (default: 60)")
{% endif %}
{% if cookiecutter.broadcast == "redis" %}
    publishing = commands.add_parser("publish", help="publish on a topic, through REDIS_URL")
    publishing.add_argument("topic", help="e.g. room:42")
    publishing.add_argument("text", help="the message's text")
{% endif %}
{% if cookiecutter.auth == "jwt" or cookiecutter.broadcast == "redis" %}
    arguments = parser.parse_args(argv)
{% else %}
    parser.parse_args(argv)
{% endif %}
{% if cookiecutter.broadcast == "redis" %}
    if arguments.command == "publish":
        publish(arguments.topic, arguments.text)
        return
{% endif %}
    settings = settings_or_exit()
{% if cookiecutter.auth == "jwt" %}
    if arguments.command == "token":
        lifetime = timedelta(minutes=arguments.minutes)
        print(mint_token(settings.jwt_secret, arguments.user, lifetime))  # noqa: T201
        return
{% endif %}
    serve(settings)


if __name__ == "__main__":
    main()
