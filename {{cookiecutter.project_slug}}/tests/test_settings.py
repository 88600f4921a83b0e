"""Settings come from environment variables, and a bad value names its variable."""

import pytest

from {{ cookiecutter.package_name }}.settings import (
    ENV_PREFIX,
    Settings,
    SettingsError,
)


def test_defaults_when_environment_is_empty() -> None:
    """With no variables set, the defaults run locally."""
    settings = Settings.from_env({})

    assert settings == Settings()
    assert (settings.host, settings.port, settings.debug) == ("127.0.0.1", 8000, False)
    assert settings.max_message_size == 64 * 1024


def test_every_setting_is_read_from_its_variable() -> None:
    """Each field has a variable, and a valid value reaches the field."""
    environ = {
        f"{ENV_PREFIX}DEBUG": "yes",
        f"{ENV_PREFIX}LOG_LEVEL": "warning",
        f"{ENV_PREFIX}HOST": "0.0.0.0",  # noqa: S104 (a value under test, not a bind)
        f"{ENV_PREFIX}PORT": "9000",
        f"{ENV_PREFIX}MAX_MESSAGE_SIZE": "1024",
        f"{ENV_PREFIX}PING_INTERVAL": "2.5",
        f"{ENV_PREFIX}PING_TIMEOUT": "1",
        f"{ENV_PREFIX}SHUTDOWN_TIMEOUT": "3",
    }

    assert Settings.from_env(environ) == Settings(
        debug=True,
        log_level="WARNING",
        host="0.0.0.0",  # noqa: S104
        port=9000,
        max_message_size=1024,
        ping_interval=2.5,
        ping_timeout=1.0,
        shutdown_timeout=3,
    )


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), (" off ", False)])
def test_debug_reads_common_boolean_words(raw: str, expected: bool) -> None:
    """DEBUG accepts the usual words for true and false, in any case."""
    assert Settings.from_env({f"{ENV_PREFIX}DEBUG": raw}).debug is expected


def test_log_level_is_case_insensitive() -> None:
    """LOG_LEVEL is stored upper-case, whatever case it is given in."""
    assert Settings.from_env({f"{ENV_PREFIX}LOG_LEVEL": "debug"}).log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("DEBUG", "maybe"),
        ("LOG_LEVEL", "LOUD"),
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
    ],
)
def test_bad_value_names_the_variable(name: str, raw: str) -> None:
    """A value the service cannot use stops it with the variable's name and value."""
    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}='{raw}'"):
        Settings.from_env({f"{ENV_PREFIX}{name}": raw})
