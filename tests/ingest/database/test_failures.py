"""Failures a database sync must survive: a lost connection, a crash after recording a batch,
a column added at the source, bad configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from civiclake import Project, Runner
from civiclake.ingest.database import sync as sync_module
from civiclake.ingest.database.connection import SourceDatabase
from civiclake.simulators.repairs import RepairsSimulator

from ._support import differences, make_project, query, sync

CLEAN = {"missing": [], "extra": [], "stale": []}


def _terminate(superuser_url: str, database: str) -> None:
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


def test_connection_lost_mid_read_fails_cleanly_and_the_next_run_completes(
    tmp_path: Path, postgres_url: str, postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    with RepairsSimulator(postgres_url, scale=0.2).create() as sim:
        with sim.engine.begin() as conn:  # big enough that the server is still sending
            conn.execute(
                sa.text(
                    "CREATE TABLE call_log AS SELECT g AS call_id, repeat(md5(g::text), 8) AS "
                    "notes, TIMESTAMP '2026-11-02 08:00' AS updated_at "
                    "FROM generate_series(1, 300000) AS g"
                )
            )
        project = make_project(
            tmp_path,
            postgres_url,
            batch_rows=1000,
            tables={"work_orders": {"key": "work_order_id"}, "call_log": {"key": "call_id"}},
        )
        original = SourceDatabase.stream

        def flaky(self: SourceDatabase, sql: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for number, batch in enumerate(original(self, sql, *args, **kwargs)):
                yield batch
                if "call_log" in sql and number == 0:  # mid-read of the second table
                    _terminate(postgres_server, database)

        monkeypatch.setattr(SourceDatabase, "stream", flaky)
        summary = Runner(project, retries=0, backoff_seconds=0).run(["repairs/drs"])
        assert not summary.ok
        [step] = summary.steps
        assert "reading call_log failed" in step.error and "the next run" in step.error
        password = postgres_url.split("//", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert password not in step.error
        # nothing half-applied: the first table is whole, the second recorded nothing
        assert differences(project, sim, "work_orders") == CLEAN
        assert project.store.get_cursor("repairs/drs", "call_log") is None
        assert "repairs_raw.call_log" not in {r.qualified for r in project.catalog.datasets()}
        landing = project.dir / "landing" / "repairs" / "drs"
        assert not list(landing.rglob("*.partial"))

        monkeypatch.setattr(SourceDatabase, "stream", original)
        sync(project)
        [row] = query(
            project, "SELECT count(*) AS n, count(DISTINCT call_id) AS k FROM repairs_raw.call_log"
        )
        assert row == {"n": 300000, "k": 300000}


def test_a_crash_after_the_batch_is_recorded_is_applied_once_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'drs.db'}"
    with RepairsSimulator(url, scale=0.2).create() as sim:
        project = make_project(tmp_path, url, tables={"work_orders": {"key": "work_order_id"}})
        sync(project)
        sim.cycle()
        original = sync_module.TableSync.apply

        def crash(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt("power cut")

        monkeypatch.setattr(sync_module.TableSync, "apply", crash)
        with pytest.raises(KeyboardInterrupt):
            Runner(project, retries=0, backoff_seconds=0).run(["repairs/drs"])
        monkeypatch.setattr(sync_module.TableSync, "apply", original)
        state = sync_module.TableState.from_json(
            project.store.get_cursor("repairs/drs", "work_orders")
        )
        assert state.pending is not None and state.pending.kind == "incremental"
        sync(project)  # applies the recorded batch, then reads again (overlap: no new versions)
        sync(project)
        assert differences(project, sim, "work_orders") == CLEAN
        [dups] = query(
            project,
            "SELECT count(*) AS n FROM (SELECT work_order_id, _row_hash, count(*) c "
            "FROM repairs_raw.work_orders__history "
            "GROUP BY ALL HAVING c > 1)",
        )
        assert dups["n"] == 0, "a version was applied twice"


def test_a_column_added_at_the_source_reaches_every_row(tmp_path: Path, postgres_url: str) -> None:
    with RepairsSimulator(postgres_url, scale=0.2).create() as sim:
        project = make_project(
            tmp_path, postgres_url, tables={"work_orders": {"key": "work_order_id"}}
        )
        sync(project)
        sim.cycle()
        with sim.engine.begin() as conn:
            conn.execute(
                sa.text("ALTER TABLE work_orders ADD COLUMN contractor TEXT DEFAULT 'in-house'")
            )
        sim.cycle()
        summary = Runner(project, retries=0, backoff_seconds=0).run(["repairs/drs"])
        assert summary.ok
        notes = summary.steps[0].result.notes
        assert any("column contractor added at the source" in n for n in notes)
        rows = query(project, "SELECT DISTINCT contractor FROM repairs_raw.work_orders")
        assert rows == [{"contractor": "in-house"}]
        changes = project.store.schema_changes("repairs_raw.work_orders")
        assert ("added", "contractor") in {(c["change"], c["column_name"]) for c in changes}
        sync(project)  # and the next sync is incremental again
        assert differences(project, sim, "work_orders") == CLEAN


def test_a_key_column_the_source_lacks_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drs.db'}"
    with RepairsSimulator(url, scale=0.1).create():
        project = make_project(tmp_path, url, tables={"work_orders": {"key": "job_id"}})
        summary = Runner(project, retries=0, backoff_seconds=0).run(["repairs/drs"])
        [step] = summary.steps
        assert "drs.yaml" in step.error and "'job_id'" in step.error
        assert "work_order_id" in step.error  # the columns it does have


def test_an_unreachable_database_is_a_transient_error_without_the_password(
    tmp_path: Path, postgres_server: str
) -> None:
    user_password = postgres_server.split("//", 1)[1].split("@", 1)[0]
    password = user_password.split(":", 1)[1]
    url = postgres_server.rsplit("/", 1)[0] + "/no_such_database"
    project: Project = make_project(tmp_path, url, tables={"work_orders": {"key": "id"}})
    summary = Runner(project, retries=0, backoff_seconds=0).run(["repairs/drs"])
    [step] = summary.steps
    assert not summary.ok
    assert "no_such_database" in step.error
    assert password not in step.error
