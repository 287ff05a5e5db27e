"""A council project publishing to a fresh PostgreSQL database, set up the documented way.

A DBA (the test server's superuser) creates the service account and runs
:func:`civiclake.publish.bootstrap_sql` with the real ``psql``; the project then
publishes as that ordinary account — no superuser, no CREATEROLE — and every role of
the namespace is dropped after the test.
"""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pytest

from civiclake import Project
from civiclake.publish import bootstrap_sql, role_names


@dataclass
class Warehouse:
    project: Project
    url: str
    """The superuser's URL of the project's database (to look, and to play the DBA)."""
    service_url: str
    service: str
    env: str
    """The environment variable ``warehouse.url`` is read from."""
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.prefix = role_names(self.project).prefix

    def login(self, user: str) -> str:
        return role_names(self.project).login(user)

    def psql(
        self, user: str, password: str, sql: str, *, role: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``sql`` with the real ``psql`` client as ``user``'s login (or ``role``)."""
        parts = urlsplit(self.url)
        return subprocess.run(
            [
                "psql",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                f"host={parts.hostname} port={parts.port} dbname={parts.path.lstrip('/')} "
                f"user={role or self.login(user)}",
                "-c",
                sql,
            ],
            env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def service_psql(self, sql: str) -> subprocess.CompletedProcess[str]:
        """``sql`` through ``psql`` as the service account."""
        password = urlsplit(self.service_url).password or ""
        return self.psql("", password, sql, role=self.service)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql).fetchall())


def service_account(admin_url: str) -> tuple[str, str]:
    """A new ordinary login (no CREATEROLE) for the warehouse; returns (name, its URL)."""
    import psycopg

    name = f"svc_{uuid.uuid4().hex[:8]}"
    password = secrets.token_hex(16)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    parts = urlsplit(admin_url)
    netloc = f"{name}:{password}@{parts.hostname}:{parts.port}"
    return name, urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def attach(
    project_dir: object, admin_url: str, *, extra: str = "", zones: str = "refined, trusted"
) -> Warehouse:
    """Point the project in ``project_dir`` at ``admin_url``'s database and bootstrap it."""
    from pathlib import Path

    root = Path(str(project_dir))
    service, url = service_account(admin_url)
    env = f"CIVICLAKE_TEST_WAREHOUSE_{uuid.uuid4().hex[:6].upper()}"
    with (root / "civiclake.yaml").open("a") as f:
        f.write(
            f"warehouse:\n  url: ${{{env}}}\n  zones: [{zones}]\n"
            + "".join(f"  {line}\n" for line in extra.splitlines())
        )
    with (root / ".env").open("a") as f:
        f.write(f"\n{env}={url}\n")
    project = Project.load(root)
    done = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", admin_url],
        input=bootstrap_sql(project),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Warehouse(project, admin_url, url, service, env)


def drop_namespace(warehouse: Warehouse) -> None:
    """Drop every role of the warehouse's namespace and its service account."""
    import psycopg

    database = urlsplit(warehouse.url).path.lstrip("/")
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        roles = [
            r[0]
            for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') "
                "LIKE %s OR rolname = %s",
                (f"civiclake project % db {database} (%", warehouse.service),
            ).fetchall()
        ]
        for role in roles:
            conn.execute(f'DROP OWNED BY "{role}"')
        for role in roles:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def warehouse(council: Project, postgres_url: str) -> Iterator[Warehouse]:
    found = attach(council.dir, postgres_url)
    try:
        yield found
    finally:
        found.project.store.close()
        drop_namespace(found)
