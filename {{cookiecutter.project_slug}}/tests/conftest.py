"""Fixtures: a fresh app for every test, and a test client that runs its lifespan."""

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture
def app() -> Litestar:
    return create_app(Settings())


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as client:
        yield client
