"""Project tasks: ``nox`` runs tests on every supported Python, lint and typecheck.

``nox -p {{ cookiecutter.python_version }}`` runs them on one version only; ``nox -s tests-{{ cookiecutter.python_version }} -- -k echo`` passes
arguments on to pytest.
"""

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
# A Python version that cannot be found (nor downloaded by uv) fails the run, naming the
# version; nox's default outside CI would skip the session and still exit 0.
nox.options.error_on_missing_interpreters = True

# Every CPython version the project supports: from requires-python in pyproject.toml to the
# newest release. Checks that need only one run on the oldest.
PYTHON_VERSIONS = [
{% for version in cookiecutter.__python_versions.split() %}
    "{{ version }}",
{% endfor %}
]
OLDEST_PYTHON = PYTHON_VERSIONS[0]

PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session(python=PYTHON_VERSIONS)
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *session.posargs)


@nox.session(python=OLDEST_PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", *session.posargs)
    session.run("ruff", "format", "--check")


@nox.session(python=OLDEST_PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package, its tests and the benchmark with mypy --strict."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "typecheck"))
    session.run("mypy", *session.posargs)


@nox.session(python=OLDEST_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmark the service beside a raw ASGI floor (``-- --help`` for the options)."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "bench/run.py", *session.posargs)
