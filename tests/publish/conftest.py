"""A council project publishing to a fresh PostgreSQL database, with roles cleaned up after."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from civiclake.project import Project


@dataclass
class Warehouse:
    project: Project
    url: str
    prefix: str

    def psql(self, user: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
        """Run ``sql`` with the real ``psql`` client as ``user``."""
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
                f"user={self.prefix}{user}",
                "-c",
                sql,
            ],
            env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql).fetchall())


@pytest.fixture
def warehouse(council: Project, postgres_url: str) -> Iterator[Warehouse]:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    with (council.dir / "civiclake.yaml").open("a") as f:
        f.write(
            "warehouse:\n  url: ${CIVICLAKE_TEST_WAREHOUSE}\n  zones: [refined, trusted]\n"
            f"  role_prefix: {prefix}\n"
        )
    mp = pytest.MonkeyPatch()
    mp.setenv("CIVICLAKE_TEST_WAREHOUSE", postgres_url)
    project = Project.load(council.dir)
    try:
        yield Warehouse(project, postgres_url, prefix)
    finally:
        project.store.close()
        mp.undo()
        _drop_roles(postgres_url, prefix)


def _drop_roles(url: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        roles = [
            r[0]
            for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)
            ).fetchall()
        ]
        for role in roles:
            conn.execute(f'DROP OWNED BY "{role}"')
        for role in roles:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
