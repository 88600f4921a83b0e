"""Settings read from environment variables, with defaults that run locally.

Every variable starts with ``{{ cookiecutter.__env_prefix }}``. A bad value stops start-up with an
error naming the variable, rather than running with a guess.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "{{ cookiecutter.__env_prefix }}"

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    debug: bool = False
    """Litestar debug mode: tracebacks in HTTP error responses. Never on in production."""
    log_level: str = "INFO"
    """Level of this service's own loggers."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Read settings from ``environ``; unset variables keep their defaults."""
        defaults = cls()
        return cls(
            debug=_read_bool(environ, "DEBUG", defaults.debug),
            log_level=_read_choice(environ, "LOG_LEVEL", LOG_LEVELS, defaults.log_level),
        )


def _read_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    variable = ENV_PREFIX + name
    raw = environ.get(variable)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    allowed = ", ".join(sorted(_TRUE_WORDS | _FALSE_WORDS))
    raise SettingsError(f"{variable}={raw!r} is not a boolean; use one of: {allowed}")


def _read_choice(
    environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str
) -> str:
    variable = ENV_PREFIX + name
    raw = environ.get(variable)
    if raw is None:
        return default
    value = raw.strip().upper()
    if value not in choices:
        raise SettingsError(f"{variable}={raw!r} is not one of: {', '.join(choices)}")
    return value
