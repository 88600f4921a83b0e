"""Helpers for baking the template in tests."""

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent


def rendered_files(project: Path) -> list[Path]:
    """Every file of a baked project."""
    return sorted(path for path in project.rglob("*") if path.is_file())


def read_pyproject(project: Path) -> dict[str, Any]:
    with (project / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def needed_tool(name: str) -> str:
    """The path of ``name``; missing, the test skips, except on CI, where it fails."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is needed for this check and is not on PATH"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_as_user(command: list[str], project: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``project`` as from a user's shell, not from nox's environment (nox
    points uv at its own); its output is captured, and a failure is for the test to assert."""
    user_environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "VIRTUAL_ENV"}
    }
    return subprocess.run(
        command,
        cwd=project,
        env=user_environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
