"""Bad answers stop the bake with one line naming the variable, and leave nothing behind."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

BAD_ANSWERS = {
    "package is a keyword": ("package_name", "class", "is a Python keyword"),
    "package is a soft keyword": ("package_name", "match", "is a Python keyword"),
    "package starts with a digit": ("package_name", "2fast", "lowercase ASCII identifier"),
    "package has a dash": ("package_name", "my-pkg", "lowercase ASCII identifier"),
    "package has capitals": ("package_name", "MyPkg", "lowercase ASCII identifier"),
    "package name too long": ("package_name", "p" * 41, "longer than 40 characters"),
    "package shadows stdlib": ("package_name", "json", "standard library"),
    "package shadows asyncio": ("package_name", "asyncio", "standard library"),
    "package shadows litestar": ("package_name", "litestar", "would shadow a module"),
    "package shadows msgspec": ("package_name", "msgspec", "would shadow a module"),
    "package shadows uvicorn": ("package_name", "uvicorn", "would shadow a module"),
    "package named test": ("package_name", "test", "would shadow a module"),
    "package named tests": ("package_name", "tests", "would shadow a module"),
    "slug with spaces": ("project_slug", "my service", "lowercase ASCII words joined by '-'"),
    "slug with capitals": ("project_slug", "My-Service", "lowercase ASCII words joined by '-'"),
    "slug starting with a digit": ("project_slug", "1-service", "starting with a letter"),
    "empty project name": ("project_name", "   ", "must not be empty"),
    "project name without letters": ("project_name", "!!!", "at least one letter or digit"),
    "two-line project name": ("project_name", "Chat\nService", "one line"),
    "two-line description": ("description", "first\nsecond", "one line"),
    "tab in author": ("author_name", "Ann\tLee", "one line"),
    "empty author": ("author_name", "", "must not be empty"),
    "bad e-mail": ("author_email", "not-an-email", "e-mail address"),
    "e-mail with quote": ("author_email", 'a"b@example.com', "e-mail address"),
    "path without slash": ("websocket_path", "ws", "must start with '/'"),
    "path with space": ("websocket_path", "/my ws", "must start with '/'"),
    "path with trailing slash": ("websocket_path", "/ws/", "no trailing slash"),
    "path with double slash": ("websocket_path", "//ws", "must start with '/'"),
    "path with quote": ("websocket_path", '/ws"', "must start with '/'"),
    "path taken by health": ("websocket_path", "/health", "already served"),
}


@pytest.mark.parametrize(
    ("variable", "value", "reason"), list(BAD_ANSWERS.values()), ids=list(BAD_ANSWERS)
)
def test_bad_answer_stops_bake_with_one_clear_line(
    cookies: Any,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    variable: str,
    value: str,
    reason: str,
) -> None:
    """The hook names the variable, its value and the rule, and nothing is written."""
    result = cookies.bake(extra_context={variable: value})

    assert result.exit_code != 0
    assert result.exception is not None
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"ERROR: {variable} {value!r} ")
    assert reason in errors[0]
    # The hook ran in bake00, and cookiecutter removed what it had started there.
    assert list((tmp_path / "cookies").rglob("*")) == [tmp_path / "cookies" / "bake00"]


def test_derived_package_name_is_checked_too(
    cookies: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """A project name whose derived package would shadow a dependency is stopped."""
    result = cookies.bake(extra_context={"project_name": "Litestar"})

    assert result.exit_code != 0
    assert "ERROR: package_name 'litestar' would shadow" in capfd.readouterr().err


def test_python_version_outside_the_choices_is_refused(cookies: Any) -> None:
    """Cookiecutter itself refuses a python_version that is not one of the choices."""
    result = cookies.bake(extra_context={"python_version": "3.9"})

    assert result.exit_code != 0
    assert "python_version" in str(result.exception)


def test_command_line_bake_with_bad_answer_exits_1_and_leaves_nothing(tmp_path: Path) -> None:
    """Through the real cookiecutter command, a bad answer exits 1 and the folder stays empty."""
    output_dir = tmp_path / "out"
    output_dir.mkdir()

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(output_dir),
            str(ROOT),
            "package_name=import",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    # Cookiecutter logs its own traceback of the failed hook after it: the hook's line comes first.
    first_line = completed.stderr.splitlines()[0]
    assert first_line.startswith("ERROR: package_name 'import' is a Python keyword")
    assert list(output_dir.iterdir()) == []


def test_valid_answers_pass_the_hook(cookies: Any) -> None:
    """Answers at the edges of each rule are accepted."""
    result = cookies.bake(
        extra_context={
            "project_name": "x",
            "package_name": "_private_pkg2" + "x" * 27,
            "project_slug": "a1-b2",
            "author_email": "first.last+tag@sub.example.org",
            "websocket_path": "/",
            "python_version": "3.11",
        }
    )

    assert result.exception is None
    assert result.project_path.name == "a1-b2"


def test_template_syntax_in_an_answer_is_rendered_or_refused(cookies: Any, tmp_path: Path) -> None:
    """Cookiecutter renders answers as templates: a valid expression bakes, a broken one stops."""
    rendered = cookies.bake(extra_context={"project_name": "Chat {{ 6 * 7 }}"})
    refused = cookies.bake(extra_context={"description": "{{ no_such_variable }}"})

    assert rendered.exception is None
    assert rendered.project_path.name == "chat-42"
    assert refused.exit_code != 0
    assert "description" in str(refused.exception)
    assert [path.name for path in (tmp_path / "cookies").iterdir()] == ["bake00"]
