"""Helpers for baking the template in tests."""

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).parent.parent


def rendered_files(project: Path) -> list[Path]:
    """Every file of a baked project."""
    return sorted(path for path in project.rglob("*") if path.is_file())


def read_pyproject(project: Path) -> dict[str, Any]:
    with (project / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)
