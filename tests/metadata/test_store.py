"""The metadata store: migrations, runs, abandoned runs, cursors and the file ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civiclake.metadata import MetadataStore
from civiclake.metadata.schema import metadata


def test_migrations_create_every_table_the_code_uses(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    tables = set(sa.inspect(store.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables
    store.close()
    MetadataStore(f"sqlite:///{tmp_path}/m.db").close()  # reopening is a no-op


def test_migrations_match_the_schema_module(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], "schema.py changed without a migration: add one in migrations/versions"
    store.close()


def test_relative_sqlite_url_is_relative_to_the_project(tmp_path: Path) -> None:
    store = MetadataStore("sqlite:///.civiclake/metadata.db", project_dir=tmp_path)
    assert (tmp_path / ".civiclake" / "metadata.db").exists()
    store.close()


def test_runs_and_steps_round_trip(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    run_id, log = store.start_run("run", "housing/*", tmp_path, pid=__import__("os").getpid())
    assert log == f"{tmp_path}/run-{run_id}.log"
    step = store.add_step(run_id, "housing/rent", "source")
    store.update_step(step, status="success", rows_out=10, bytes_written=2048)
    store.finish_run(run_id, "success")
    [record] = store.runs()
    assert (record.id, record.status, record.selection) == (run_id, "success", "housing/*")
    [s] = store.steps(run_id)
    assert (s.node, s.status, s.rows_out, s.bytes_written) == ("housing/rent", "success", 10, 2048)
    store.close()


def test_runs_of_dead_processes_are_marked_abandoned(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    dead_pid = 2**22 + 12345  # above pid_max defaults: never a live process
    run_id, _ = store.start_run("run", "", tmp_path, pid=dead_pid)
    store.add_step(run_id, "a/b", "job", status="running")
    assert store.abandon_dead_runs() == 1
    assert store.run(run_id).status == "abandoned"  # type: ignore[union-attr]
    assert store.steps(run_id)[0].status == "abandoned"
    store.close()


def test_cursors_and_loaded_files(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    assert store.get_cursor("planning/api", "applications") is None
    store.set_cursor("planning/api", "applications", "2026-11-26")
    store.set_cursor("planning/api", "applications", "2026-11-27")
    assert store.get_cursor("planning/api", "applications") == "2026-11-27"
    values = dict(
        source="housing/rent",
        dataset="housing_raw.rent",
        path="a.csv",
        archived_path="landing/a.csv",
        sha256="f" * 64,
        size_bytes=10,
        import_id="x",
        rows_loaded=1,
        rows_rejected=0,
    )
    store.record_loaded_file(**values)
    store.record_loaded_file(**values)  # idempotent
    assert len(store.loaded_files("housing/rent")) == 1
    assert store.loaded_file("housing/rent", "f" * 64) is not None
    store.close()


def test_the_quick_current_check_agrees_with_alembic(tmp_path: Path) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from civiclake.metadata.store import MIGRATIONS, head_revision

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    store.close()
    reopened = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")  # current: no Alembic run
    assert reopened.datasets() == []


def _register(store: MetadataStore, name: str) -> None:
    store.upsert_dataset(
        f"housing_raw.{name}",
        department="housing",
        zone="raw",
        name=name,
        uri=f"/lake/{name}",
        producer="test",
        key=[],
        description="",
        owner="",
        pii=[],
        columns=[],
        row_count=0,
        version=0,
    )


def test_a_write_waiting_too_long_for_the_lock_is_a_transient_metadata_error(
    tmp_path: Path,
) -> None:
    """Another process holding SQLite's write lock: a clear, retryable error, no driver text."""
    import sqlite3

    from civiclake.exceptions import MetadataBusyError, Transient

    path = tmp_path / "m.db"
    MetadataStore(f"sqlite:///{path}").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    store = MetadataStore(f"sqlite:///{path}", busy_timeout=0.2)
    try:
        with pytest.raises(MetadataBusyError) as caught:
            _register(store, "x")
        assert isinstance(caught.value, Transient)
        assert "locked" not in str(caught.value) and "sqlite" not in str(caught.value).lower()
        holder.execute("ROLLBACK")
        _register(store, "x")
        assert [row["qualified_name"] for row in store.datasets()] == ["housing_raw.x"]
    finally:
        holder.close()
        store.close()


HOLD = """
import sqlite3, sys, time
holder = sqlite3.connect(sys.argv[1], isolation_level=None)
holder.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
holder.execute("ROLLBACK")
"""


def _holder(path: Path, seconds: float) -> Any:
    """Another process holding the store's write lock for ``seconds``."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "holding"
    return process


def test_a_write_waits_in_attempts_for_a_lock_held_longer_than_one_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite waits a short attempt; the store tries again until its budget, then writes."""
    import time

    from civiclake.metadata import store as module

    monkeypatch.setattr(module, "ATTEMPT_SECONDS", 0.2)
    path = tmp_path / "m.db"
    store = MetadataStore(f"sqlite:///{path}", busy_timeout=20)
    holder = _holder(path, 1.5)
    try:
        started = time.monotonic()
        _register(store, "x")  # several attempts of 0.2 s, then the lock is free
        assert time.monotonic() - started > 1.0
        assert [row["qualified_name"] for row in store.datasets()] == ["housing_raw.x"]
    finally:
        holder.wait(timeout=30)
        store.close()


def test_a_write_that_gives_up_names_the_file_the_wait_and_the_remedy(tmp_path: Path) -> None:
    from civiclake.exceptions import MetadataBusyError

    path = tmp_path / "m.db"
    store = MetadataStore(f"sqlite:///{path}", busy_timeout=0.5)
    holder = _holder(path, 5)
    try:
        with pytest.raises(MetadataBusyError) as caught:
            _register(store, "x")
        message = str(caught.value)
        assert str(path) in message and "stayed busy for 0." in message
        assert "civiclake runs" in message and "metadata.busy_timeout_seconds" in message
        assert "OperationalError" not in message and "database is locked" not in message
    finally:
        holder.kill()
        holder.wait(timeout=30)
        store.close()


def test_a_read_then_write_transaction_waits_for_another_writer(tmp_path: Path) -> None:
    """Writes take the lock when they begin, so a writer committing in between is waited
    for, not a 'database is locked' failure."""
    import threading

    path = f"sqlite:///{tmp_path}/m.db"
    first, second = MetadataStore(path), MetadataStore(path)
    errors: list[BaseException] = []

    def write(store: MetadataStore, prefix: str) -> None:
        try:
            for n in range(40):
                name = f"{prefix}{n}"
                _register(store, name)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(s, p)) for s, p in ((first, "a"), (second, "b"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(first.datasets()) == 80
    first.close()
    second.close()
