"""Shared fixtures: a fresh project in a temp folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from civiclake.project import Project
from civiclake.project.scaffold import init_project


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A new project with housing and parking departments (plus unrestricted, sandbox)."""
    return init_project(tmp_path / "council", departments=["housing", "parking"])


@pytest.fixture
def project(project_dir: Path) -> Iterator[Project]:
    proj = Project.load(project_dir)
    yield proj
    if "store" in proj.__dict__:
        proj.store.close()


def _service_url(name: str, env: str) -> str:
    """Where a service started by ``scripts/services/<name>.sh`` listens.

    ``make test`` starts the services and sets ``env``; a developer running pytest by hand can
    start them once with ``scripts/services/<name>.sh start``.
    """
    url = os.environ.get(env)
    if url:
        return url
    path = Path(__file__).resolve().parents[1] / ".services" / name / "url"
    if path.exists():
        return path.read_text().strip()
    pytest.fail(
        f"{name} is not running: start it with scripts/services/{name}.sh start "
        f"(make test does this), or set {env}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The superuser URL of the test PostgreSQL server (a throwaway cluster)."""
    return _service_url("postgres", "CIVICLAKE_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database on the test server for one test; dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
