"""Shared fixtures: a fresh project in a temp folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from civiclake import Project, init_project


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


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The bootstrap servers (``127.0.0.1:PORT``) of the test Apache Kafka broker (KRaft)."""
    return _service_url("kafka", "CIVICLAKE_TEST_KAFKA")


# The services each fixture above reaches: a test using one (directly or through another
# fixture, e.g. ``postgres_url`` or ``warehouse``) gets the marker, so ``-m "not postgres"``
# leaves it out. ``item.fixturenames`` holds the transitive closure.
SERVICE_FIXTURES = {"postgres_server": "postgres", "kafka_bootstrap": "kafka"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in SERVICE_FIXTURES.items():
            if fixture in used:
                item.add_marker(marker)


# -- issue 6: a council with access grants, shared by tests/access, serve and publish ---------
@pytest.fixture
def council(tmp_path: Path) -> Iterator[Project]:
    """Housing, parking and planning data, PII tagged; users with grants (see below).

    * ``housing_trusted.tenants`` (PII ``name``), ``housing_raw.rent_lines``
    * ``planning_refined.applications``: keyed history (PII ``applicant``), one update, one delete
    * ``unrestricted_trusted.wards``
    * users: ``hana`` analyst in housing; ``eli`` engineer in housing with PII;
      ``pat`` analyst in planning; ``ada`` admin of every department
    """
    from datetime import datetime

    import pyarrow as pa

    from civiclake import HistorySpec, apply_increment

    root = init_project(tmp_path / "council", departments=["housing", "parking", "planning"])
    proj = Project.load(root)
    tenants = pa.table(
        {"id": [1, 2, 3], "name": ["Ann Lee", "Bo Chan", None], "ward_id": [1, 2, 9]}
    )
    proj.catalog.write(
        proj.dataset("housing", "trusted", "tenants"),
        tenants,
        mode="overwrite",
        producer="test",
        pii=["name"],
    )
    proj.catalog.write(
        proj.dataset("housing", "raw", "rent_lines"),
        pa.table({"line": ["a", "b"]}),
        mode="overwrite",
        producer="test",
    )
    proj.catalog.write(
        proj.dataset("unrestricted", "trusted", "wards"),
        pa.table({"id": [1, 2], "ward": ["Hill", "Vale"]}),
        mode="overwrite",
        producer="test",
        key=["id"],
    )
    spec = HistorySpec(key=("id",), version="last_updated", deleted="ceased")
    apps = proj.dataset("planning", "refined", "applications")

    def day(n: int, rows: list[tuple[int, str, int, bool]]) -> None:
        data = pa.table(
            {
                "id": [r[0] for r in rows],
                "applicant": [r[1] for r in rows],
                "ward_id": [r[2] for r in rows],
                "ceased": [r[3] for r in rows],
                "last_updated": [datetime(2026, 3, n, 12)] * len(rows),
            }
        )
        apply_increment(
            proj.catalog,
            apps,
            data,
            spec,
            app_id=f"day-{n}",
            import_id=f"i{n}",
            producer="test",
            pii=["applicant"],
        )

    day(1, [(1, "Cy Dune", 1, False), (2, "Di Fox", 2, False), (3, "Ed Gray", 7, False)])
    day(2, [(2, "Di Fox-Hart", 2, False), (3, "Ed Gray", 7, True)])
    store = proj.store
    for name, dept, role, pii in [
        ("hana", "housing", "analyst", False),
        ("eli", "housing", "engineer", True),
        ("pat", "planning", "analyst", False),
        ("ada", "*", "admin", False),
    ]:
        store.add_user(name)
        store.set_grant(name, dept, role, pii)
    yield proj
    store.close()
