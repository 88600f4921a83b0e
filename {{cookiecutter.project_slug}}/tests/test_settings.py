"""Settings come from environment variables, and a bad value names its variable."""

from dataclasses import replace

import pytest
from litestar import Litestar

from {{ cookiecutter.package_name }}.__main__ import uvicorn_config
from {{ cookiecutter.package_name }}.settings import (
    ENV_PREFIX,
    Settings,
    SettingsError,
)

{% if cookiecutter.auth == "jwt" %}
from .support import TEST_JWT_SECRET, TEST_SETTINGS

REQUIRED = {f"{ENV_PREFIX}JWT_SECRET": TEST_JWT_SECRET}
"""The variables without a default."""
{% else %}
from .support import TEST_SETTINGS

REQUIRED: dict[str, str] = {}
"""The variables without a default: none."""
{% endif %}


def test_defaults_when_environment_is_empty() -> None:
    """With no variables set (but the required ones), the defaults run locally."""
    settings = Settings.from_env(REQUIRED)

{% if cookiecutter.auth == "jwt" %}
    assert settings == Settings(jwt_secret=TEST_JWT_SECRET)
{% else %}
    assert settings == Settings()
{% endif %}
    assert (settings.host, settings.port, settings.debug) == ("127.0.0.1", 8000, False)
    assert settings.max_message_size == 64 * 1024
    assert settings.allowed_origins == ()
    assert settings.max_connections >= 1000  # the benchmark's idle connections fit


def test_every_setting_is_read_from_its_variable() -> None:
    """Each field has a variable, and a valid value reaches the field."""
    environ = {
        f"{ENV_PREFIX}DEBUG": "yes",
        f"{ENV_PREFIX}LOG_LEVEL": "warning",
        f"{ENV_PREFIX}LOG_FORMAT": "TEXT",
        f"{ENV_PREFIX}METRICS": "off",
        f"{ENV_PREFIX}COMPRESSION": "on",
        f"{ENV_PREFIX}SHUTDOWN_DRAIN": "0",
        f"{ENV_PREFIX}HOST": "0.0.0.0",  # noqa: S104 (a value under test, not a bind)
        f"{ENV_PREFIX}PORT": "9000",
        f"{ENV_PREFIX}MAX_MESSAGE_SIZE": "1024",
        f"{ENV_PREFIX}PING_INTERVAL": "2.5",
        f"{ENV_PREFIX}PING_TIMEOUT": "1",
        f"{ENV_PREFIX}SHUTDOWN_TIMEOUT": "3",
        f"{ENV_PREFIX}ALLOWED_ORIGINS": "https://app.example.com, HTTP://Localhost:5173",
        f"{ENV_PREFIX}RATE_LIMIT": "2.5",
        f"{ENV_PREFIX}RATE_BURST": "5",
        f"{ENV_PREFIX}MAX_CONNECTIONS": "100",
        f"{ENV_PREFIX}MAX_SUBSCRIPTIONS": "7",
        f"{ENV_PREFIX}HISTORY_SIZE": "0",
        f"{ENV_PREFIX}HISTORY_TTL": "30",
        **REQUIRED,
    }

    assert Settings.from_env(environ) == Settings(
        debug=True,
        log_level="WARNING",
        log_format="text",
        metrics=False,
        compression=True,
        shutdown_drain=0.0,
        host="0.0.0.0",  # noqa: S104
        port=9000,
        max_message_size=1024,
        ping_interval=2.5,
        ping_timeout=1.0,
        shutdown_timeout=3,
        allowed_origins=("https://app.example.com", "http://localhost:5173"),
        rate_limit=2.5,
        rate_burst=5,
        max_connections=100,
        max_subscriptions=7,
        history_size=0,
        history_ttl=30.0,
{% if cookiecutter.auth == "jwt" %}
        jwt_secret=TEST_JWT_SECRET,
{% endif %}
    )


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), (" off ", False)])
def test_debug_reads_common_boolean_words(raw: str, expected: bool) -> None:
    """DEBUG accepts the usual words for true and false, in any case."""
    assert Settings.from_env({f"{ENV_PREFIX}DEBUG": raw, **REQUIRED}).debug is expected


def test_log_level_is_case_insensitive() -> None:
    """LOG_LEVEL is stored upper-case, whatever case it is given in."""
    assert Settings.from_env({f"{ENV_PREFIX}LOG_LEVEL": "debug", **REQUIRED}).log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("DEBUG", "maybe"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "yaml"),
        ("METRICS", "sometimes"),
        ("COMPRESSION", "gzip"),
        ("SHUTDOWN_DRAIN", "-1"),
        ("SHUTDOWN_DRAIN", "nan"),
        ("HOST", "two words"),
        ("PORT", "0"),
        ("PORT", "65536"),
        ("PORT", "http"),
        ("MAX_MESSAGE_SIZE", "-1"),
        ("MAX_MESSAGE_SIZE", "1.5"),
        ("PING_INTERVAL", "0"),
        ("PING_TIMEOUT", "nan"),
        ("PING_TIMEOUT", "inf"),
        ("SHUTDOWN_TIMEOUT", "soon"),
        ("ALLOWED_ORIGINS", "*"),
        ("ALLOWED_ORIGINS", "null"),
        ("ALLOWED_ORIGINS", "example.com"),
        ("ALLOWED_ORIGINS", "https://example.com/"),
        ("ALLOWED_ORIGINS", "https://example.com/app"),
        ("ALLOWED_ORIGINS", "ftp://example.com"),
        ("ALLOWED_ORIGINS", "https://example.com:99999"),
        ("ALLOWED_ORIGINS", "https://ok.example.com,,https://also.example.com"),
        ("RATE_LIMIT", "0"),
        ("RATE_LIMIT", "fast"),
        ("RATE_BURST", "0"),
        ("MAX_CONNECTIONS", "-5"),
        ("MAX_SUBSCRIPTIONS", "0"),
        ("HISTORY_SIZE", "-1"),
        ("HISTORY_SIZE", "many"),
        ("HISTORY_TTL", "0"),
    ],
)
def test_bad_value_names_the_variable(name: str, raw: str) -> None:
    """A value the service cannot use stops it with the variable's name and value."""
    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}='{raw}'"):
        Settings.from_env({f"{ENV_PREFIX}{name}": raw, **REQUIRED})


def test_bad_origin_says_what_an_origin_looks_like() -> None:
    """A malformed ALLOWED_ORIGINS entry is named, with the form it should take."""
    with pytest.raises(SettingsError, match=r"'https://example.com/' is not an origin.*scheme://"):
        Settings.from_env({f"{ENV_PREFIX}ALLOWED_ORIGINS": "https://example.com/", **REQUIRED})
{% if cookiecutter.auth == "jwt" %}


@pytest.mark.parametrize(
    ("environ", "problem"),
    [({}, "not set"), ({f"{ENV_PREFIX}JWT_SECRET": "short"}, "only 5 characters long")],
    ids=["missing", "too short"],
)
def test_jwt_secret_is_required_and_long(environ: dict[str, str], problem: str) -> None:
    """Without a long enough JWT_SECRET the service does not start; the error never shows it."""
    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}JWT_SECRET is {problem}") as error:
        Settings.from_env(environ)

    assert all(secret not in str(error.value) for secret in environ.values())
{% endif %}


def test_uvicorn_applies_the_server_side_settings() -> None:
    """Frame size limit, keepalive pings and shutdown grace period live in uvicorn, not the app:
    ``python -m`` hands each of them over (a dropped one would fall back to uvicorn's default)."""
    settings = replace(
        TEST_SETTINGS,
        host="127.0.0.2",
        port=9001,
        max_message_size=1234,
        ping_interval=2.5,
        ping_timeout=1.5,
        shutdown_timeout=3,
    )

    config = uvicorn_config(settings, Litestar())

    assert (config.host, config.port) == ("127.0.0.2", 9001)
    assert (config.ws_max_size, config.ws_ping_interval, config.ws_ping_timeout) == (1234, 2.5, 1.5)
    assert config.timeout_graceful_shutdown == 3
