"""Check the answers before anything is rendered.

On a bad answer this prints one line naming the variable, the value and what is allowed,
then exits 1; cookiecutter then removes the half-made project folder.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from typing import Any

# Cookiecutter renders the answers into this raw string as JSON; JSON escapes every quote,
# so no answer can end the string early, and json.loads gives back the exact text.
ANSWERS: dict[str, Any] = json.loads(r"""{{ cookiecutter | tojson }}""")

# Names the generated project imports, or that its tools put on sys.path: a package
# called like one of them would shadow it.
TAKEN_PACKAGE_NAMES = frozenset(
    {
        "anyio",
        "click",
        "conftest",
        "httpx",
        "litestar",
        "msgspec",
        "mypy",
        "nox",
        "noxfile",
        "pytest",
        "rich",
        "ruff",
        "test",
        "tests",
        "typing_extensions",
        "uvicorn",
        "uvloop",
        "websockets",
    }
)

# Longer names would push the generated imports past the 100-character line limit.
MAX_PACKAGE_NAME_LENGTH = 40

# Paths the generated app already serves itself.
TAKEN_PATHS = frozenset({"/health", "/schema"})

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
PACKAGE_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL_PATTERN = re.compile(r"[^@\s\"'<>\\]+@[^@\s\"'<>\\]+\.[^@\s\"'<>\\]+")
PATH_SEGMENT = r"[A-Za-z0-9._~-]+"
PATH_PATTERN = re.compile(rf"/(?:{PATH_SEGMENT}(?:/{PATH_SEGMENT})*)?")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def check_project_name(value: str) -> str | None:
    problem = check_one_line_text(value)
    if problem is None and not any(character.isalnum() for character in value):
        # cookiecutter.json derives the slug from the name; with no letter it falls back to "-".
        return "needs at least one letter or digit, to derive the project slug from"
    return problem


def check_one_line_text(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if CONTROL_CHARACTER.search(value):
        return "must be one line of text without tabs or control characters"
    return None


def check_project_slug(value: str) -> str | None:
    if not SLUG_PATTERN.fullmatch(value):
        return (
            "must be lowercase ASCII words joined by '-', starting with a letter ('chat-service')"
        )
    return None


def check_package_name(value: str) -> str | None:
    if len(value) > MAX_PACKAGE_NAME_LENGTH:
        return f"is longer than {MAX_PACKAGE_NAME_LENGTH} characters; pick a shorter name"
    if not PACKAGE_PATTERN.fullmatch(value):
        return "must be a lowercase ASCII identifier (a-z, 0-9 and '_', not starting with a digit)"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword; pick another name (e.g. 'chat_service')"
    if value in sys.stdlib_module_names:
        return "would shadow the standard library module of that name; pick another name"
    if value in TAKEN_PACKAGE_NAMES:
        return "would shadow a module the project or its tools import; pick another name"
    return None


def check_author_email(value: str) -> str | None:
    if not EMAIL_PATTERN.fullmatch(value):
        return "must be an e-mail address like 'you@example.com'"
    return None


def check_websocket_path(value: str) -> str | None:
    if not PATH_PATTERN.fullmatch(value):
        return (
            "must start with '/' and hold only letters, digits and . _ ~ - between single slashes,"
            " with no trailing slash (e.g. '/ws')"
        )
    if value in TAKEN_PATHS:
        return f"is already served by the generated app; avoid {', '.join(sorted(TAKEN_PATHS))}"
    return None


def first_problem() -> str | None:
    checks = {
        "project_name": check_project_name,
        "project_slug": check_project_slug,
        "package_name": check_package_name,
        "description": check_one_line_text,
        "author_name": check_one_line_text,
        "author_email": check_author_email,
        "websocket_path": check_websocket_path,
    }
    for name, check in checks.items():
        value = str(ANSWERS[name])
        problem = check(value)
        if problem is not None:
            return f"ERROR: {name} {value!r} {problem}."
    return None


def main() -> int:
    problem = first_problem()
    if problem is None:
        return 0
    print(problem, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
