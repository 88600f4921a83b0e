"""Helpers for baking the template in tests."""

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def rendered_files(project: Path) -> list[Path]:
    """Every file of a baked project."""
    return sorted(path for path in project.rglob("*") if path.is_file())


def read_pyproject(project: Path) -> dict[str, Any]:
    with (project / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)
