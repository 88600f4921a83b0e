"""The generated README's customization recipe, applied to a baked project as a user would.

Used by the template tests (``test_generated_suite.py``) and by noxfile.py's update-path session
(``python tests/recipe.py PROJECT``), which runs the full suite, lint and type check on the result.
"""

import re
import sys
from pathlib import Path


def customization_blocks(readme: str, language: str) -> list[str]:
    """The ``language`` code blocks of the README's Customize section, without the list's
    indentation."""
    section = readme.split("\n## Customize\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"^   ```{language}\n(.*?)^   ```$", section, re.MULTILINE | re.DOTALL)
    return ["".join(line[3:] + "\n" for line in block.splitlines()) for block in blocks]


def insert_after(path: Path, anchor: str, text: str) -> None:
    source = path.read_text()
    assert source.count(anchor) == 1, f"{anchor!r} is not once in {path.name}"
    path.write_text(source.replace(anchor, anchor + text))


def apply_diff(project: Path, diff: str) -> None:
    """Apply a README diff: each ``@@`` hunk's old lines (context and ``-``) must be in the file
    exactly once, and become its new lines (context and ``+``)."""
    header, *hunks = re.split(r"^@@.*\n", diff, flags=re.MULTILINE)
    target = re.search(r"^\+\+\+ (\S+)$", header, re.MULTILINE)
    assert target is not None, f"no +++ line in {header!r}"
    path = project / target.group(1)
    source = path.read_text()
    for hunk in hunks:
        lines = hunk.splitlines(keepends=True)
        old = "".join(line[1:] for line in lines if line[0] in " -")
        new = "".join(line[1:] for line in lines if line[0] in " +")
        assert source.count(old) == 1, f"{old!r} is not once in {path.name}"
        source = source.replace(old, new)
    path.write_text(source)


def apply_readme_recipe(project: Path) -> None:
    """The README's worked example, step by step, at the places its text names."""
    (package,) = (path.parent for path in (project / "src").glob("*/listener.py"))
    readme = (project / "README.md").read_text()
    snippets = customization_blocks(readme, "python")
    assert len(snippets) == 5, "the recipe: field, message types, module, case, test"
    field, message_types, shared_module, case, test = snippets
    diffs = customization_blocks(readme, "diff")
    assert len(diffs) == 3, "the recipe: the unions, the app provides the object, the hooks use it"

    insert_after(package / "state.py", "    messages_received: int = 0\n", field)

    messages = package / "messages.py"
    source = messages.read_text()
    union_at = source.index("\nClientMessage = ")
    comment_at = source.rfind("\n\n", 0, union_at) + 2  # the comment above the union
    source = source[:comment_at] + message_types + "\n\n" + source[comment_at:]
    messages.write_text(source)

    (package / "nicknames.py").write_text(shared_module)
    for diff in diffs:
        apply_diff(project, diff)

    listener = package / "listener.py"
    source = listener.read_text()
    imports = re.search(r"^from \.messages import \(\n(.*?)^\)\n", source, re.MULTILINE | re.DOTALL)
    assert imports is not None, "no parenthesized import from .messages in listener.py"
    names = re.findall(r"\w+", imports.group(1))
    names += re.findall(r"^class (\w+)\(", message_types, re.MULTILINE)
    names.sort(key=lambda name: (not name.isupper(), not name[0].isupper(), name.lower()))
    source = source.replace(imports.group(1), "".join(f"    {name},\n" for name in names))
    end_of_reply_to = source.index("\n\n\n", source.index("async def reply_to(")) + 1
    listener.write_text(source[:end_of_reply_to] + case + source[end_of_reply_to:])

    (project / "tests" / "test_nickname.py").write_text(test)


if __name__ == "__main__":
    apply_readme_recipe(Path(sys.argv[1]))
