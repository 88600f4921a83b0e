"""Settings come from environment variables, and a bad value names its variable."""

import pytest

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings, SettingsError


def test_defaults_when_environment_is_empty() -> None:
    """With no variables set, the defaults run locally."""
    assert Settings.from_env({}) == Settings(debug=False, log_level="INFO")


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), (" off ", False)])
def test_debug_reads_common_boolean_words(raw: str, expected: bool) -> None:
    """DEBUG accepts the usual words for true and false, in any case."""
    assert Settings.from_env({f"{ENV_PREFIX}DEBUG": raw}).debug is expected


def test_log_level_is_case_insensitive() -> None:
    """LOG_LEVEL is stored upper-case, whatever case it is given in."""
    assert Settings.from_env({f"{ENV_PREFIX}LOG_LEVEL": "debug"}).log_level == "DEBUG"


@pytest.mark.parametrize(("name", "raw"), [("DEBUG", "maybe"), ("LOG_LEVEL", "LOUD")])
def test_bad_value_names_the_variable(name: str, raw: str) -> None:
    """A value the service cannot use stops it with the variable's name and value."""
    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}='{raw}'"):
        Settings.from_env({f"{ENV_PREFIX}{name}": raw})
