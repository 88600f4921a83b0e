"""Settings read from environment variables, with defaults that run locally.

Every variable starts with ``ENV_PREFIX``. A bad value stops start-up with an error naming the
variable, rather than running with a guess.
"""

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
{% if cookiecutter.broadcast == "redis" %}
from urllib.parse import urlsplit
{% endif %}

from .handshake import parse_origin
from .logs import LOG_FORMATS

ENV_PREFIX = "{{ cookiecutter.__env_prefix }}"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
{% if cookiecutter.auth == "jwt" %}
MIN_JWT_SECRET_LENGTH = 32
"""HS256 keys shorter than its 256-bit hash can be brute-forced offline from one token."""
{% endif %}

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class History(NamedTuple):
    """What each topic keeps for clients that resume (``since``)."""

    size: int
    """Messages kept per topic (``HISTORY_SIZE``); 0 turns history and recovery off."""
    ttl: float
    """Seconds a message is kept (``HISTORY_TTL``)."""


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    debug: bool = False
    """Litestar debug mode: tracebacks in HTTP error responses. Never on in production."""
    log_level: str = "INFO"
    """Level of this service's own loggers; DEBUG logs every connection opening too."""
    log_format: str = field(default_factory=lambda: "text" if sys.stderr.isatty() else "json")
    """``json`` (one object per line, for a log collector) or ``text`` (for a terminal);
    unset, ``text`` when standard error is a terminal, else ``json``."""
    metrics: bool = True
    """Serve ``GET /metrics`` (Prometheus text format); false leaves the route out."""
    host: str = "127.0.0.1"
    """Interface the server listens on (0.0.0.0 for all)."""
    port: int = 8000
    max_message_size: int = 64 * 1024
    """Largest frame accepted, in bytes; a larger one closes its connection with 1009."""
    compression: bool = False
    """Offer permessage-deflate to clients (browsers always ask). Off by default: it costs
    memory per connection and CPU per frame; see the README's Settings for the figures."""
    ping_interval: float = 20.0
    """Seconds between the server's keepalive pings."""
    ping_timeout: float = 20.0
    """Seconds a client has to answer a ping before it is dropped as dead."""
    shutdown_drain: float = 0.0
    """Seconds between SIGTERM and the shutdown, while ``/health/ready`` says 503 so that the
    load balancer sends new connections elsewhere; the open ones go on meanwhile."""
    shutdown_timeout: int = 10
    """Seconds a shutdown waits for connections to finish before cancelling them."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed besides the service's own, each ``scheme://host[:port]``."""
    rate_limit: float = 20.0
    """Messages per second one connection may send, on average."""
    rate_burst: int = 40
    """Messages one connection may send at once before ``rate_limit`` applies."""
    max_connections: int = 10_000
    """WebSocket connections one process holds at most; the next handshake gets HTTP 503."""
    max_subscriptions: int = 100
    """Topics one connection may be subscribed to at once; one more gets an error frame."""
    history_size: int = 100
    """Messages each topic keeps for clients that resume (``since``); 0 turns recovery off."""
    history_ttl: float = 300.0
    """Seconds a topic keeps a message for clients that resume."""
{% if cookiecutter.broadcast == "redis" %}
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis that carries broadcasts between processes; the service starts without it."""
{% endif %}
{% if cookiecutter.auth == "jwt" %}
    jwt_secret: str = ""
    """HS256 key that signs and checks tokens; required, at least ``MIN_JWT_SECRET_LENGTH``."""
{% endif %}

    @property
    def history(self) -> History:
        return History(self.history_size, self.history_ttl)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Read settings from ``environ``; unset variables keep their defaults."""
        defaults = cls()
        env = _EnvironmentReader(environ)
        return cls(
            debug=env.boolean("DEBUG", defaults.debug),
            log_level=env.choice("LOG_LEVEL", LOG_LEVELS, defaults.log_level),
            log_format=env.choice("LOG_FORMAT", LOG_FORMATS, defaults.log_format),
            metrics=env.boolean("METRICS", defaults.metrics),
            host=env.word("HOST", defaults.host),
            port=env.integer("PORT", defaults.port, maximum=65535),
            max_message_size=env.integer("MAX_MESSAGE_SIZE", defaults.max_message_size),
            compression=env.boolean("COMPRESSION", defaults.compression),
            ping_interval=env.seconds("PING_INTERVAL", defaults.ping_interval),
            ping_timeout=env.seconds("PING_TIMEOUT", defaults.ping_timeout),
            shutdown_drain=env.seconds("SHUTDOWN_DRAIN", defaults.shutdown_drain, zero=True),
            shutdown_timeout=env.integer("SHUTDOWN_TIMEOUT", defaults.shutdown_timeout),
            allowed_origins=env.origins("ALLOWED_ORIGINS", defaults.allowed_origins),
            rate_limit=env.rate("RATE_LIMIT", defaults.rate_limit),
            rate_burst=env.integer("RATE_BURST", defaults.rate_burst),
            max_connections=env.integer("MAX_CONNECTIONS", defaults.max_connections),
            max_subscriptions=env.integer("MAX_SUBSCRIPTIONS", defaults.max_subscriptions),
            history_size=env.integer("HISTORY_SIZE", defaults.history_size, minimum=0),
            history_ttl=env.seconds("HISTORY_TTL", defaults.history_ttl),
{% if cookiecutter.broadcast == "redis" %}
            redis_url=env.redis_url("REDIS_URL", defaults.redis_url),
{% endif %}
{% if cookiecutter.auth == "jwt" %}
            jwt_secret=checked_jwt_secret(environ.get(f"{ENV_PREFIX}JWT_SECRET", "")),
{% endif %}
        )


class _EnvironmentReader:
    """Reads ``ENV_PREFIX``-named variables, each method returning its default when unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        word = raw.strip().lower()
        if word in _TRUE_WORDS | _FALSE_WORDS:
            return word in _TRUE_WORDS
        raise _invalid(name, raw, f"use one of {', '.join(sorted(_TRUE_WORDS | _FALSE_WORDS))}")

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """One of ``choices``, given in any case."""
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        for choice in choices:
            if choice.casefold() == raw.strip().casefold():
                return choice
        raise _invalid(name, raw, f"use one of {', '.join(choices)}")

    def word(self, name: str, default: str) -> str:
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        value = raw.strip()
        if not value or any(character.isspace() for character in value):
            raise _invalid(name, raw, "use one word, without spaces")
        return value

    def integer(self, name: str, default: int, maximum: int | None = None, minimum: int = 1) -> int:
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        rule = f"use a whole number from {minimum}" + (f" to {maximum}" if maximum else "")
        try:
            value = int(raw.strip())
        except ValueError:
            raise _invalid(name, raw, rule) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise _invalid(name, raw, rule)
        return value

    def seconds(self, name: str, default: float, *, zero: bool = False) -> float:
        """Seconds above 0, or, where ``zero`` (it turns the thing off), 0 too."""
        if zero:
            rule = "use a number of seconds, 0 or more"
            return self._number(name, default, rule, or_zero=True)
        return self._number(name, default, "use a number of seconds greater than 0")

    def rate(self, name: str, default: float) -> float:
        return self._number(name, default, "use a number per second greater than 0")

    def _number(self, name: str, default: float, rule: str, *, or_zero: bool = False) -> float:
        """A finite number above 0 (or 0 too, ``or_zero``); else an error naming ``rule``."""
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        try:
            value = float(raw.strip())
        except ValueError:
            raise _invalid(name, raw, rule) from None
        big_enough = value >= 0 if or_zero else value > 0  # (false for NaN)
        if not (big_enough and value < float("inf")):
            raise _invalid(name, raw, rule)
        return value

{% if cookiecutter.broadcast == "redis" %}
    def redis_url(self, name: str, default: str) -> str:
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        parts = urlsplit(raw.strip())
        if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.hostname or parts.path):
            # The value may hold a password: name the variable, not the value.
            raise SettingsError(
                f"{ENV_PREFIX}{name} is not valid: use a URL like redis://host:6379/0"
                " (or rediss:// for TLS, unix:///path/to/socket)"
            )
        return raw.strip()

{% endif %}
    def origins(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        if not raw.strip():
            return ()
        origins = []
        for item in raw.split(","):
            try:
                origins.append(parse_origin(item.strip()))
            except ValueError as error:
                raise _invalid(name, raw, f"{error}; list exact origins, comma-separated") from None
        return tuple(origins)


{% if cookiecutter.auth == "jwt" %}
def checked_jwt_secret(secret: str) -> str:
    """``secret`` if it is long enough to sign tokens; it has no default, so no deployment
    runs on a key that is written down somewhere."""
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        # The value is a secret: say how long it is, never what it is.
        problem = f"only {len(secret)} characters long" if secret else "not set"
        raise SettingsError(
            f"{ENV_PREFIX}JWT_SECRET is {problem}: set it to a random secret of at least"
            f" {MIN_JWT_SECRET_LENGTH} characters, e.g. the output of"
            ' python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return secret


{% endif %}
{% if cookiecutter.broadcast == "redis" %}
def publisher_settings_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, History]:
    """``REDIS_URL``, ``HISTORY_SIZE`` and ``HISTORY_TTL`` alone, checked: for a process that only
    publishes and needs nothing else of the service's settings (``python -m <package> publish``).
    """
    env, defaults = _EnvironmentReader(environ), Settings()
    history = History(
        env.integer("HISTORY_SIZE", defaults.history_size, minimum=0),
        env.seconds("HISTORY_TTL", defaults.history_ttl),
    )
    return env.redis_url("REDIS_URL", defaults.redis_url), history


{% endif %}
def _invalid(name: str, raw: str, rule: str) -> SettingsError:
    return SettingsError(f"{ENV_PREFIX}{name}={raw!r} is not valid: {rule}")
