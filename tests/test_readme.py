"""This repository's README says what cookiecutter.json does."""

import json
import re

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
CHOICES = json.loads((ROOT / "cookiecutter.json").read_text())
QUESTIONS = {name: value for name, value in CHOICES.items() if not name.startswith("_")}


def options_table() -> dict[str, list[str]]:
    """The README's options table: variable -> [default, choices, what it does]."""
    section = README.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", section, re.MULTILINE)
    return {name: [cell.strip() for cell in cells.split(" | ")] for name, cells in rows}


def test_options_table_lists_every_question_once() -> None:
    table = options_table()

    assert sorted(table) == sorted(QUESTIONS)
    assert all(len(cells) == 3 for cells in table.values()), table


def test_options_table_gives_each_choice_and_the_default() -> None:
    """A question with choices: its default is the first, and every choice is listed in order."""
    table = options_table()

    for name, value in QUESTIONS.items():
        default, choices, _ = table[name]
        if isinstance(value, list):
            assert default == f"`{value[0]}`", name
            assert choices == ", ".join(f"`{choice}`" for choice in value), name
        elif "{{" not in value and name != "description":
            assert default == f"`{value}`", name


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'python -m pip install "nox[uv]" && python -m nox -s bake-and-test'

    assert command in README
    assert command in ci
