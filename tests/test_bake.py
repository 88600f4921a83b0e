"""A bake renders a complete, valid project, whatever the (valid) answers."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, read_pyproject, rendered_files

# "${{ ... }}" is GitHub Actions syntax, rendered on purpose from string literals.
LEFTOVER_JINJA = re.compile(r"(?<!\$)\{\{|\{%|\{#|cookiecutter\.")

EXPECTED_FILES = [
    ".github/dependabot.yml",
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "LICENSE",
    "README.md",
    "bench/README.md",
    "bench/__init__.py",
    "bench/floor.py",
    "bench/load.py",
    "bench/run.py",
    "bench/service.py",
    "deploy/nginx.conf",
    "noxfile.py",
    "pyproject.toml",
    "src/{package}/__init__.py",
    "src/{package}/__main__.py",
    "src/{package}/app.py",
    "src/{package}/authorization.py",
    "src/{package}/broadcast.py",
    "src/{package}/client.py",
    "src/{package}/demo.html",
    "src/{package}/handshake.py",
    "src/{package}/lifecycle.py",
    "src/{package}/listener.py",
    "src/{package}/logs.py",
    "src/{package}/messages.py",
    "src/{package}/metrics.py",
    "src/{package}/outbox.py",
    "src/{package}/py.typed",
    "src/{package}/ratelimit.py",
    "src/{package}/registry.py",
    "src/{package}/settings.py",
    "src/{package}/state.py",
    "src/{package}/topics.py",
    "src/{package}/websocket.py",
    "tests/__init__.py",
    "tests/browser.py",
    "tests/conftest.py",
    "tests/fault_injection.py",
    "tests/server.py",
    "tests/support.py",
    "tests/test_broadcast.py",
    "tests/test_browser.py",
    "tests/test_cleanup.py",
    "tests/test_client.py",
    "tests/test_contract.py",
    "tests/test_dependencies.py",
    "tests/test_handshake.py",
    "tests/test_isolation.py",
    "tests/test_logs.py",
    "tests/test_metrics.py",
    "tests/test_outbox.py",
    "tests/test_protocol.py",
    "tests/test_proxy.py",
    "tests/test_ratelimit.py",
    "tests/test_recovery.py",
    "tests/test_server.py",
    "tests/test_server_broadcast.py",
    "tests/test_server_security.py",
    "tests/test_settings.py",
    "tests/test_topics.py",
]


@dataclass(frozen=True)
class Option:
    """What a non-default answer adds to a bake, and only it."""

    answers: dict[str, str]
    files: list[str]
    dependency: str
    setting: str
    trace: str
    """A pattern found in no file of a bake without the option."""


OPTIONS = {
    "auth-jwt": Option(
        answers={"auth": "jwt"},
        files=["src/{package}/auth.py", "tests/test_auth.py"],
        dependency="litestar[jwt]>=2.25,<3",
        setting="WEBSOCKET_SERVICE_JWT_SECRET",
        trace=r"jwt|bearer|mint_token|auth\.py",
    ),
    "broadcast-redis": Option(
        answers={"broadcast": "redis"},
        files=["tests/redis_server.py", "tests/test_redis.py"],
        dependency="redis>=5.2",
        setting="WEBSOCKET_SERVICE_REDIS_URL",
        trace="redis",
    ),
}


def bake_ok(cookies: Any, **answers: str) -> Path:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    project: Path = result.project_path
    return project


def test_default_bake_has_the_documented_layout(cookies: Any) -> None:
    """A --no-input bake gives the layout of DESIGN.md, named after the default project name."""
    project = bake_ok(cookies)

    assert project.name == "websocket-service"
    relative = [path.relative_to(project).as_posix() for path in rendered_files(project)]
    assert relative == [name.format(package="websocket_service") for name in EXPECTED_FILES]


def test_default_bake_metadata(cookies: Any) -> None:
    """pyproject.toml names the project, its Python floor and its tools' target version."""
    project = bake_ok(cookies)
    pyproject = read_pyproject(project)

    assert pyproject["project"]["name"] == "websocket-service"
    assert pyproject["project"]["requires-python"] == ">=3.12"
    assert pyproject["tool"]["ruff"]["target-version"] == "py312"
    assert pyproject["tool"]["mypy"]["python_version"] == "3.12"
    assert pyproject["tool"]["pytest"]["ini_options"]["filterwarnings"] == ["error"]


LICENSES = {
    "MIT": ("MIT", "MIT License"),
    "Apache-2.0": ("Apache-2.0", "Apache License"),
    "BSD-3-Clause": ("BSD-3-Clause", "Redistribution and use in source and binary forms"),
    "Proprietary": ("LicenseRef-Proprietary", "All rights reserved."),
}


@pytest.mark.parametrize("answer", list(LICENSES))
def test_license_answer_writes_license_and_its_spdx_expression(cookies: Any, answer: str) -> None:
    """LICENSE holds that license's text with the author's name, pyproject.toml its SPDX
    expression (PEP 639); a proprietary project cannot be uploaded to PyPI by mistake."""
    project = bake_ok(cookies, license=answer, author_name="Ada Lovelace")
    expression, words = LICENSES[answer]
    metadata = read_pyproject(project)["project"]
    text = (project / "LICENSE").read_text()

    assert metadata["license"] == expression
    assert metadata["license-files"] == ["LICENSE"]
    assert words in text
    assert answer == "Apache-2.0" or "Ada Lovelace" in text  # Apache's text names no one
    assert ("Private :: Do Not Upload" in metadata["classifiers"]) is (answer == "Proprietary")


def test_generated_readme_points_to_the_template_changelog(cookies: Any) -> None:
    """Before a ``cruft update``, users read what changed: the changelog at the template's root."""
    readme = (bake_ok(cookies) / "README.md").read_text()

    assert "/cookiecutter-litestar-websocket/blob/main/CHANGELOG.md" in readme
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_no_template_syntax_is_left_in_any_file(cookies: Any) -> None:
    """Every {{ }}, {% %} and cookiecutter reference is rendered away."""
    project = bake_ok(cookies, websocket_path="/chat/live")

    leftovers = {
        path.relative_to(project).as_posix(): match.group()
        for path in rendered_files(project)
        if (match := LEFTOVER_JINJA.search(path.read_text(encoding="utf-8")))
    }
    assert leftovers == {}


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_template_tags_leave_no_stray_blank_lines(cookies: Any, version: str) -> None:
    """{% %} lines vanish without leaving blank or blank-looking lines behind."""
    project = bake_ok(cookies, python_version=version)

    for path in rendered_files(project):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^[ \t]+$", text, re.MULTILINE), path
        # Python may hold two blank lines (ruff format checks those): in .py files and in the
        # Python examples of a README. Nothing else does.
        if path.suffix == ".md":
            text = re.sub(
                r"^ *```python\n.*?^ *```$", "(code)", text, flags=re.MULTILINE | re.DOTALL
            )
        if path.suffix != ".py":
            assert "\n\n\n" not in text, path


@pytest.mark.parametrize(
    ("project_name", "slug", "package"),
    [
        ("Chat Service", "chat-service", "chat_service"),
        ("Über Chat 2", "uber-chat-2", "uber_chat_2"),
        ("  Live   Updates!  ", "live-updates", "live_updates"),
    ],
)
def test_slug_and_package_derive_from_project_name(
    cookies: Any, project_name: str, slug: str, package: str
) -> None:
    """The folder, distribution and package names follow the project name."""
    project = bake_ok(cookies, project_name=project_name)

    assert project.name == slug
    assert read_pyproject(project)["project"]["name"] == slug
    assert (project / "src" / package / "listener.py").is_file()


SUPPORTED_FROM = {
    "3.11": ["3.11", "3.12", "3.13", "3.14"],
    "3.12": ["3.12", "3.13", "3.14"],
    "3.13": ["3.13", "3.14"],
}


def test_python_choices_are_the_supported_cpython_versions() -> None:
    """Offered: every CPython version still supported upstream, 3.14 being the newest."""
    choices = json.loads((ROOT / "cookiecutter.json").read_text())
    assert sorted(choices["python_version"]) == sorted(SUPPORTED_FROM)
    assert choices["_newest_python"] == "3.14"


@pytest.mark.parametrize(("version", "supported"), SUPPORTED_FROM.items())
def test_python_version_sets_floor_and_tool_targets(
    cookies: Any, version: str, supported: list[str]
) -> None:
    """The chosen version is the floor, ruff and mypy target it, classifiers list it and newer."""
    project = bake_ok(cookies, python_version=version)
    pyproject = read_pyproject(project)

    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert pyproject["tool"]["mypy"]["python_version"] == version
    classifiers = pyproject["project"]["classifiers"]
    assert [c.rpartition(" :: ")[2] for c in classifiers if c.count(".") == 1] == supported


@pytest.mark.parametrize(("version", "supported"), SUPPORTED_FROM.items())
def test_nox_sessions_ask_for_the_supported_versions(
    cookies: Any, version: str, supported: list[str]
) -> None:
    """Generated nox sessions name their Pythons, and a missing one is an error, never a skip."""
    project = bake_ok(cookies, python_version=version)

    noxfile = (project / "noxfile.py").read_text()
    listed = re.search(r"^PYTHON_VERSIONS = \[\n(.*?)^\]", noxfile, re.MULTILINE | re.DOTALL)
    assert listed is not None
    assert re.findall(r'"(3\.\d+)"', listed.group(1)) == supported
    assert "nox.options.error_on_missing_interpreters = True" in noxfile


@pytest.mark.parametrize(("version", "supported"), SUPPORTED_FROM.items())
def test_github_workflow_tests_every_supported_version(
    cookies: Any, version: str, supported: list[str]
) -> None:
    """The generated CI runs nox on the chosen Python version and every newer one."""
    project = bake_ok(cookies, python_version=version)

    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    job = workflow["jobs"]["nox"]
    assert job["strategy"]["matrix"]["python-version"] == supported
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands[-1] == "uvx nox -p ${{ matrix.python-version }}"


def test_websocket_path_is_served_where_asked(cookies: Any) -> None:
    """The listener and the README use the chosen path."""
    project = bake_ok(cookies, websocket_path="/api/v1/live")

    listener = (project / "src" / "websocket_service" / "listener.py").read_text()
    assert 'WEBSOCKET_PATH = "/api/v1/live"' in listener
    assert "ws://127.0.0.1:8000/api/v1/live" in (project / "README.md").read_text()


AWKWARD_TEXT = {
    "double quotes": 'He said "hi"',
    "single quotes": "O'Brien's",
    "backslashes": "C:\\path\\to \\n not a newline",
    "triple quotes": "a \"\"\" b ''' c",
    "python code": '"); import os; os.system("true") #',
    "toml syntax": 'x" = 1 [tool.evil] y = "',
    "non-ASCII": "Ünïcödé ✓ 漢字 😀",
    "markup": "<b>&amp;</b> **bold** `code`",
}


@pytest.mark.parametrize("text", list(AWKWARD_TEXT.values()), ids=list(AWKWARD_TEXT))
def test_awkward_text_answers_render_valid_files(cookies: Any, text: str) -> None:
    """Quotes, backslashes, code and non-ASCII in free-text answers arrive intact and harmless."""
    project = bake_ok(
        cookies,
        project_name=f"Service {text}",
        description=text,
        author_name=text,
    )

    pyproject = read_pyproject(project)
    assert pyproject["project"]["description"] == text
    assert pyproject["project"]["authors"] == [{"name": text, "email": "you@example.com"}]
    assert "evil" not in pyproject.get("tool", {})
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# Service {text}\n\n{text}\n")
    for path in rendered_files(project):
        if path.suffix == ".py":
            compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_cookiecutter_json_prompts_every_question() -> None:
    """Every question a user is asked has a human prompt."""
    context = json.loads((ROOT / "cookiecutter.json").read_text())
    questions = {name for name in context if not name.startswith("_")}

    assert set(context["__prompts__"]) == questions


def test_demo_page_escapes_the_project_name(cookies: Any) -> None:
    """Markup in the project name shows as text on the demo page, never as HTML."""
    project = bake_ok(cookies, project_name="Chat <script>alert(1)</script> & Co")

    page = (project / "src" / "chat_script_alert_1_script_co" / "demo.html").read_text()
    assert "<script>alert(1)</script>" not in page
    assert "Chat &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page


@pytest.mark.parametrize("option", list(OPTIONS.values()), ids=list(OPTIONS))
def test_default_bake_leaves_no_trace_of_an_option(cookies: Any, option: Option) -> None:
    """Without the option: not its dependency, its setting, its code or its tests."""
    project = bake_ok(cookies)

    assert option.dependency not in read_pyproject(project)["project"]["dependencies"]
    traces = {
        path.relative_to(project).as_posix()
        for path in rendered_files(project)
        if re.search(option.trace, path.read_text(encoding="utf-8"), re.IGNORECASE)
    }
    assert traces == set()


@pytest.mark.parametrize("option", list(OPTIONS.values()), ids=list(OPTIONS))
def test_option_adds_its_files_dependency_and_setting(cookies: Any, option: Option) -> None:
    """With the option: its files, its dependency, and its setting documented and read."""
    project = bake_ok(cookies, **option.answers)

    relative = [path.relative_to(project).as_posix() for path in rendered_files(project)]
    expected = sorted([*EXPECTED_FILES, *option.files])
    assert relative == [name.format(package="websocket_service") for name in expected]
    assert option.dependency in read_pyproject(project)["project"]["dependencies"]
    assert option.setting in (project / "README.md").read_text(encoding="utf-8")
    settings = (project / "src" / "websocket_service" / "settings.py").read_text()
    assert option.setting.removeprefix("WEBSOCKET_SERVICE_") in settings


def test_redis_bake_installs_redis_server_in_its_ci(cookies: Any) -> None:
    """The generated workflow of a broadcast=redis bake installs the redis-server its tests need."""
    project = bake_ok(cookies, broadcast="redis")

    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert "apt-get install -y --no-install-recommends redis-server" in workflow
