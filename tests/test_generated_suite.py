"""The generated suite does its job: it passes the README's customization and fails the classic bug.

Each test bakes a project, edits it as a user would, and runs its own tests in an environment
that uv makes from its pyproject.toml (on a Python version the project supports).
"""

import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import needed_tool, run_as_user
from .recipe import apply_readme_recipe
from .test_bake import bake_ok

ISOLATION_TEST = "tests/test_isolation.py::test_two_connections_get_independent_state"


def run_in_project(
    project: Path, *command: str, groups: tuple[str, ...] = ("test",)
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with ``uv run`` in the project's own environment, as its user would."""
    uv = needed_tool("uv")
    group_options = [option for group in groups for option in ("--group", group)]
    return run_as_user(
        [uv, "run", "--quiet", "--no-default-groups", *group_options, *command], project
    )


# The in-process suite here, as noxfile.py's update-path session runs it (with ruff) on an updated
# project with the same recipe applied.
IN_PROCESS = ("-m", "not server and not browser")


@pytest.mark.parametrize(
    "answers", [{}, {"auth": "jwt", "broadcast": "redis"}], ids=["defaults", "everything"]
)
def test_readme_customization_recipe_passes_the_suite(
    cookies: Any, answers: dict[str, str]
) -> None:
    """A new field, message, reply, handler case and test, as the README says: all green."""
    project = bake_ok(cookies, **answers)
    apply_readme_recipe(project)

    typecheck = run_in_project(project, "mypy", groups=("typecheck",))
    suite = run_in_project(project, "pytest", "-v", "-p", "no:cacheprovider", *IN_PROCESS)

    assert typecheck.returncode == 0, typecheck.stdout + typecheck.stderr
    assert suite.returncode == 0, suite.stdout[-5000:] + suite.stderr[-2000:]
    assert "tests/test_nickname.py::test_nickname_is_kept_per_connection PASSED" in suite.stdout


# The classic bug of litestar-org/litestar#3764, in the two shared places it takes: each edit
# (the generated line, then the buggy one) keeps per-connection data there.
CLASSIC_BUGS = {
    "in the app state": (
        "state.py",
        [
            (
                '    socket.scope["state"][CONNECTION_STATE_KEY] = connection_state\n',
                "    # BUG: the app's State is one object, shared by every connection.\n"
                "    connection_state = socket.app.state.setdefault(\n"
                "        CONNECTION_STATE_KEY, connection_state\n"
                "    )\n",
            )
        ],
    ),
    "on the listener": (
        "listener.py",
        [
            (
                "        connection_registry.add(connection_state)\n",
                "        connection_registry.add(connection_state)\n"
                "        # BUG: the listener is one object, shared by every connection.\n"
                "        self.connection_state = connection_state\n",
            ),
            (
                "        # Every frame spends from this connection's budget, valid or not:",
                "        connection_state = self.connection_state  # BUG: see above\n"
                "        # Every frame spends from this connection's budget, valid or not:",
            ),
        ],
    ),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS.values()), ids=list(CLASSIC_BUGS))
def test_independence_test_fails_on_the_classic_bug(
    cookies: Any, bug: tuple[str, list[tuple[str, str]]]
) -> None:
    """Per-connection data kept in the app state or on the listener fails the ready test,
    which passes on the project as generated."""
    project = bake_ok(cookies)
    path = project / "src" / "websocket_service" / bug[0]
    isolation = ("pytest", "-q", "-p", "no:cacheprovider", "tests/test_isolation.py")

    control = run_in_project(project, *isolation)
    assert control.returncode == 0, control.stdout[-3000:] + control.stderr[-2000:]
    source = path.read_text()
    for correct, buggy in bug[1]:
        assert source.count(correct) == 1, f"the generated {bug[0]} changed: update the bug"
        source = source.replace(correct, buggy)
    path.write_text(source)

    result = run_in_project(project, *isolation)

    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"FAILED {ISOLATION_TEST}" in result.stdout, result.stdout[-3000:]
