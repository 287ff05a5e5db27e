"""The metadata store: catalog, runs, cursors, the loaded-files ledger, column lineage.

SQLite by default, any SQLAlchemy URL otherwise; the schema is kept current
by Alembic migrations that run when the store opens. All methods are safe to
call from the runner's worker threads.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from civiclake.config.secrets import REDACTOR
from civiclake.exceptions import DiskFullError, MetadataBusyError, MetadataError
from civiclake.metadata import schema as t

MIGRATIONS = Path(__file__).parent / "migrations"
ATTEMPT_SECONDS = 2.0
"""How long SQLite itself waits for the write lock before the store tries again."""


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite drops time zones; every timestamp civiclake stores is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class RunRecord:
    id: int
    command: str
    selection: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    log_path: str | None
    error: str | None
    pid: int | None

    @property
    def seconds(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


@dataclass(frozen=True)
class StepRecord:
    id: int
    run_id: int
    node: str
    kind: str
    status: str
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    rows_in: int | None
    rows_out: int | None
    rows_rejected: int | None
    bytes_written: int | None
    peak_memory_bytes: int | None
    error: str | None
    log_path: str | None
    cpu_seconds: float | None = None
    bytes_read: int | None = None
    spilled_bytes: int | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


@dataclass(frozen=True)
class LineageEdge:
    """One output column of a job derived from one input column (what a run writes).

    ``input_dataset``/``input_column`` are None for a column traced to no input at all
    while unresolved (nothing known, and no PII among the inputs).
    """

    output_column: str
    input_dataset: str | None
    input_column: str | None
    resolved: bool = True
    pii: bool = False


@dataclass(frozen=True)
class ColumnLineageRecord:
    """A stored edge of the column lineage graph: ``output`` derives from ``input``."""

    job: str
    output_dataset: str
    output_column: str
    input_dataset: str | None
    input_column: str | None
    resolved: bool
    """False when the job's SQL could not be traced (or a Python job declared nothing)."""
    pii: bool
    """Whether the input column was PII when the job ran."""
    import_id: str
    recorded_at: datetime


@dataclass(frozen=True)
class PiiClearance:
    """An output column derived from PII that its job declared not personal, and why."""

    job: str
    dataset: str
    column: str
    reason: str
    import_id: str
    cleared_at: datetime


class MetadataStore:
    """Typed access to the metadata database."""

    def __init__(
        self, url: str, *, project_dir: Path | None = None, busy_timeout: float = 30.0
    ) -> None:
        """``busy_timeout``: seconds a write waits in all for another process's write lock."""
        self.url = _resolve_sqlite(url, project_dir)
        self.busy_timeout = busy_timeout
        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            # SQLite waits this long per attempt; _begin tries again until busy_timeout
            attempt = min(busy_timeout, ATTEMPT_SECONDS)
            kwargs["connect_args"] = {"timeout": attempt, "check_same_thread": False}
        try:
            self.engine: Engine = sa.create_engine(self.url, **kwargs)
        except Exception as exc:
            raise MetadataError(
                f"cannot open the metadata store: {REDACTOR(str(exc))}; check `metadata.url` in "
                "civiclake.yaml"
            ) from None
        if self.url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            # Python's sqlite3 commits each CREATE TABLE on its own, so a process killed
            # during the first migration left half a schema that no later open could
            # migrate; with BEGIN issued here, a migration (like every write) is atomic
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        # driver errors stop here: callers see MetadataError (MetadataBusyError, a
        # Transient, when another process held the lock too long), never driver text
        sa.event.listen(self.engine, "handle_error", _translate)
        self._writer = self.engine.execution_options(civiclake_write=True)
        """Write transactions: on SQLite they take the write lock when they begin (``BEGIN
        IMMEDIATE``), so waiting for it honours the busy timeout; a deferred transaction that
        read first and then wrote would fail at once when another process had written."""
        self._lock = threading.Lock()
        self.migrate()

    # -- schema -------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the database up to the newest migration (no-op when current).

        The current revision is read with one query first; Alembic (slow to
        import and to scan its scripts) is loaded only when there is work.
        """
        try:
            with self.engine.connect() as conn:
                if sa.inspect(conn).has_table("alembic_version"):
                    row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
                    if row is not None and row[0] == head_revision():
                        return
        except (sa.exc.OperationalError, MetadataError):
            pass  # reported below, with the advice
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        try:
            with self.engine.begin() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
                if current != head:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
        except (MetadataBusyError, DiskFullError):
            raise
        except (sa.exc.OperationalError, MetadataError) as exc:
            reason = exc.orig if isinstance(exc, sa.exc.OperationalError) else exc
            raise MetadataError(
                f"cannot reach the metadata store: {REDACTOR(str(reason))}; check "
                "`metadata.url` in civiclake.yaml"
            ) from None

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._lock:
            conn = self._begin()
            try:
                with conn:
                    yield conn
                    conn.commit()
            finally:
                conn.close()

    def _begin(self, sleep: Callable[[float], None] = time.sleep) -> Connection:
        """A connection in a write transaction, its write lock taken (``BEGIN IMMEDIATE``).

        Another process holding the lock is waited for, in attempts, up to ``busy_timeout``
        in all; then one :class:`MetadataBusyError` names the file, how long this waited
        and what to do — never the driver's text.
        """
        started = time.monotonic()
        pause = 0.05
        while True:
            conn = self._writer.connect()
            try:
                conn.begin()
                return conn
            except MetadataBusyError:
                conn.close()
                waited = time.monotonic() - started
                if waited + pause > self.busy_timeout:
                    raise MetadataBusyError(self._busy_message(waited)) from None
                sleep(pause)
                pause = min(pause * 2, 1.0)
            except BaseException:
                conn.close()
                raise

    def _busy_message(self, waited: float) -> str:
        where = sa.engine.make_url(self.url)
        name = where.database if where.drivername.startswith("sqlite") else None
        target = name or where.render_as_string(hide_password=True)
        return (
            f"the metadata store {target} stayed busy for {waited:.1f} s: another civiclake "
            "process held its write lock all that time. See `civiclake runs` for what is "
            "running and run the command again when it ends; if nothing is running, a tool holding "
            "the file open (a database browser) is the cause. To wait longer, raise "
            "metadata.busy_timeout_seconds in civiclake.yaml"
        )

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction, for the per-concern repositories (:mod:`.leases`): it takes
        the write lock when it begins and commits when the block ends."""
        return self._tx()

    def close(self) -> None:
        self.engine.dispose()

    # -- catalog ------------------------------------------------------------
    def upsert_dataset(self, qualified_name: str, **values: Any) -> None:
        stamp = now()
        with self._tx() as conn:
            exists = conn.execute(
                sa.select(t.datasets.c.qualified_name).where(
                    t.datasets.c.qualified_name == qualified_name
                )
            ).first()
            if exists:
                conn.execute(
                    t.datasets.update()
                    .where(t.datasets.c.qualified_name == qualified_name)
                    .values(updated_at=stamp, **values)
                )
            else:
                conn.execute(
                    t.datasets.insert().values(
                        qualified_name=qualified_name, created_at=stamp, updated_at=stamp, **values
                    )
                )

    def set_table_version(self, uri: str, version: int) -> None:
        """Every entry whose table is ``uri`` (``x`` and ``x__history``) is at ``version``."""
        with self._tx() as conn:
            conn.execute(
                t.datasets.update()
                .where(t.datasets.c.uri == uri)
                .values(version=version, updated_at=now())
            )

    def forget_datasets(self, names: Sequence[str]) -> None:
        """Remove datasets' catalog rows with their lineage, clearances, drift and publish
        state, in one transaction."""
        names = list(names)
        with self._tx() as conn:
            conn.execute(t.datasets.delete().where(t.datasets.c.qualified_name.in_(names)))
            conn.execute(
                t.column_lineage.delete().where(t.column_lineage.c.output_dataset.in_(names))
            )
            conn.execute(t.pii_clearances.delete().where(t.pii_clearances.c.dataset.in_(names)))
            conn.execute(t.schema_changes.delete().where(t.schema_changes.c.dataset.in_(names)))
            conn.execute(t.publish_state.delete().where(t.publish_state.c.dataset.in_(names)))

    def datasets(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.datasets).order_by(t.datasets.c.qualified_name))
            return [dict(r._mapping) for r in rows]

    def dataset(self, qualified_name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.datasets).where(t.datasets.c.qualified_name == qualified_name)
            ).first()
            return dict(row._mapping) if row else None

    def upsert_node(self, table: str, node: str, **values: Any) -> None:
        """Record a source or job definition (``table`` is ``sources`` or ``jobs``)."""
        tbl = {"sources": t.sources, "jobs": t.jobs}[table]
        with self._tx() as conn:
            conn.execute(tbl.delete().where(tbl.c.node == node))
            conn.execute(tbl.insert().values(node=node, updated_at=now(), **values))

    # -- runs ---------------------------------------------------------------
    def start_run(self, command: str, selection: str, log_dir: Path, pid: int) -> tuple[int, str]:
        """Record a new run; returns its id and its log file ``<log_dir>/run-<id>.log``."""
        self.abandon_dead_runs()
        with self._tx() as conn:
            result = conn.execute(
                t.runs.insert().values(
                    command=command,
                    selection=selection,
                    status="running",
                    started_at=now(),
                    pid=pid,
                    host=socket.gethostname(),
                )
            )
            run_id = _new_id(result)
            log_path = str(log_dir / f"run-{run_id}.log")
            conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(log_path=log_path))
            return run_id, log_path

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
        with self._tx() as conn:
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(status=status, ended_at=now(), error=REDACTOR(error) if error else None)
            )

    def abandon_dead_runs(self) -> int:
        """Mark runs whose process died (SIGKILL, power cut) as ``abandoned``."""
        host = socket.gethostname()
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(t.runs.c.id, t.runs.c.pid).where(
                    t.runs.c.status == "running", t.runs.c.host == host
                )
            ).all()
            dead = [r.id for r in rows if r.pid is None or not _alive(r.pid)]
            if dead:
                conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id.in_(dead))
                    .values(status="abandoned", ended_at=now(), error="the process stopped")
                )
                conn.execute(
                    t.run_steps.update()
                    .where(t.run_steps.c.run_id.in_(dead), t.run_steps.c.status == "running")
                    .values(status="abandoned", ended_at=now())
                )
            return len(dead)

    def add_step(self, run_id: int, node: str, kind: str, status: str = "pending") -> int:
        with self._tx() as conn:
            result = conn.execute(
                t.run_steps.insert().values(run_id=run_id, node=node, kind=kind, status=status)
            )
            return _new_id(result)

    def update_step(self, step_id: int, **values: Any) -> None:
        if values.get("error"):
            values["error"] = REDACTOR(values["error"])
        with self._tx() as conn:
            conn.execute(t.run_steps.update().where(t.run_steps.c.id == step_id).values(**values))

    def runs(self, limit: int = 20) -> list[RunRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.runs).order_by(t.runs.c.id.desc()).limit(limit))
            return [_run(dict(r._mapping)) for r in rows]

    def run(self, run_id: int) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            return _run(dict(row._mapping)) if row else None

    def steps(self, run_id: int) -> list[StepRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.run_steps)
                .where(t.run_steps.c.run_id == run_id)
                .order_by(t.run_steps.c.id)
            )
            return [_step(dict(r._mapping)) for r in rows]

    def steps_since(self, since: datetime) -> list[StepRecord]:
        """Every step of every run started at or after ``since``, oldest first (what
        ``civiclake advise`` reads)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.run_steps)
                .join(t.runs, t.runs.c.id == t.run_steps.c.run_id)
                .where(t.runs.c.started_at >= since)
                .order_by(t.run_steps.c.id)
            )
            return [_step(dict(r._mapping)) for r in rows]

    def nodes(self, table: str) -> list[dict[str, Any]]:
        """The recorded sources or jobs (``table`` is ``sources`` or ``jobs``), by name."""
        tbl = {"sources": t.sources, "jobs": t.jobs}[table]
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(tbl).order_by(tbl.c.node))]

    # -- cursors --------------------------------------------------------------
    def get_cursor(self, owner: str, name: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.cursors.c.value).where(
                    t.cursors.c.owner == owner, t.cursors.c.name == name
                )
            ).first()
            return None if row is None else str(row.value)

    def set_cursor(self, owner: str, name: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute(
                t.cursors.delete().where(t.cursors.c.owner == owner, t.cursors.c.name == name)
            )
            conn.execute(
                t.cursors.insert().values(owner=owner, name=name, value=value, updated_at=now())
            )

    # -- schema drift -------------------------------------------------------
    def record_schema_change(
        self,
        dataset: str,
        change: str,
        column: str,
        *,
        old_type: str | None = None,
        new_type: str | None = None,
        import_id: str | None = None,
    ) -> None:
        """Note a column ``added`` to or ``widened`` in a dataset."""
        with self._tx() as conn:
            conn.execute(
                t.schema_changes.insert().values(
                    dataset=dataset,
                    change=change,
                    column_name=column,
                    old_type=old_type,
                    new_type=new_type,
                    import_id=import_id,
                    changed_at=now(),
                )
            )

    def schema_changes(self, dataset: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.schema_changes)
                .where(t.schema_changes.c.dataset == dataset)
                .order_by(t.schema_changes.c.id)
            )
            return [dict(r._mapping) for r in rows]

    # -- reconciliations and stream progress ---------------------------------
    def record_reconciliation(self, **values: Any) -> int:
        """Store one reconciliation report (see ``schema.reconciliations``); returns its id."""
        with self._tx() as conn:
            return _new_id(conn.execute(t.reconciliations.insert().values(**values)))

    def reconciliations(self, source: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The newest reconciliation reports first, of one source or all."""
        query = sa.select(t.reconciliations).order_by(t.reconciliations.c.id.desc()).limit(limit)
        if source is not None:
            query = query.where(t.reconciliations.c.source == source)
        with self.engine.connect() as conn:
            return [_with_aware_times(r._mapping) for r in conn.execute(query)]

    def record_stream_partitions(self, source: str, rows: list[dict[str, Any]]) -> None:
        """Upsert the progress of a stream source's partitions (topic, partition, offsets, lag)."""
        if not rows:
            return
        with self._tx() as conn:
            for row in rows:
                key = (
                    (t.stream_partitions.c.source == source)
                    & (t.stream_partitions.c.topic == row["topic"])
                    & (t.stream_partitions.c.partition == row["partition"])
                )
                values = {**row, "updated_at": now()}
                if conn.execute(t.stream_partitions.update().where(key).values(**values)).rowcount:
                    continue
                conn.execute(t.stream_partitions.insert().values(source=source, **values))

    def stream_partitions(self, source: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(t.stream_partitions).order_by(
            t.stream_partitions.c.source,
            t.stream_partitions.c.topic,
            t.stream_partitions.c.partition,
        )
        if source is not None:
            query = query.where(t.stream_partitions.c.source == source)
        with self.engine.connect() as conn:
            return [_with_aware_times(r._mapping) for r in conn.execute(query)]

    # -- loaded files ---------------------------------------------------------
    def loaded_file(self, source: str, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.loaded_files).where(
                    t.loaded_files.c.source == source, t.loaded_files.c.sha256 == sha256
                )
            ).first()
            return dict(row._mapping) if row else None

    def record_loaded_file(self, *, supersedes: str | None = None, **values: Any) -> None:
        """Record a loaded file; ``supersedes``: the sha256 of the entry whose rows this
        file's load replaced (a file taken before its writer finished), removed in the same
        transaction."""
        with self._tx() as conn:
            exists = conn.execute(
                sa.select(t.loaded_files.c.id).where(
                    t.loaded_files.c.source == values["source"],
                    t.loaded_files.c.sha256 == values["sha256"],
                )
            ).first()
            if not exists:
                conn.execute(t.loaded_files.insert().values(loaded_at=now(), **values))
            if supersedes is not None and supersedes != values["sha256"]:
                conn.execute(
                    t.loaded_files.delete().where(
                        t.loaded_files.c.source == values["source"],
                        t.loaded_files.c.sha256 == supersedes,
                    )
                )

    def loaded_files(
        self, source: str | None = None, *, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Ledger entries in load order, of one source and (``path``) found at one path."""
        query = sa.select(t.loaded_files).order_by(t.loaded_files.c.id)
        if source:
            query = query.where(t.loaded_files.c.source == source)
        if path is not None:
            query = query.where(t.loaded_files.c.path == path)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- access policy, API tokens, query audit, publish state (issue 6) -----------------
    # Decisions are made in civiclake.access.policy; these methods only store and read.
    def add_user(self, name: str, *, kind: str = "person", description: str = "") -> bool:
        """Create a user if new; returns True when created."""
        with self._tx() as conn:
            exists = conn.execute(
                sa.select(t.access_users.c.name).where(t.access_users.c.name == name)
            ).first()
            if exists:
                return False
            conn.execute(
                t.access_users.insert().values(
                    name=name, kind=kind, description=description, created_at=now()
                )
            )
            return True

    def users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.access_users).order_by(t.access_users.c.name))
            return [_with_aware_times(r._mapping) for r in rows]

    def set_grant(self, user: str, department: str, role: str, pii: bool) -> None:
        """Give ``user`` ``role`` in ``department`` (replacing an earlier grant there)."""
        with self._tx() as conn:
            key = (t.access_grants.c.user_name == user) & (
                t.access_grants.c.department == department
            )
            conn.execute(t.access_grants.delete().where(key))
            conn.execute(
                t.access_grants.insert().values(
                    user_name=user, department=department, role=role, pii=int(pii), granted_at=now()
                )
            )

    def remove_grant(self, user: str, department: str | None = None) -> int:
        """Remove ``user``'s grant in ``department`` (every grant when None); returns how many."""
        query = t.access_grants.delete().where(t.access_grants.c.user_name == user)
        if department is not None:
            query = query.where(t.access_grants.c.department == department)
        with self._tx() as conn:
            return int(conn.execute(query).rowcount or 0)

    def grants(self, user: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(t.access_grants).order_by(
            t.access_grants.c.user_name, t.access_grants.c.department
        )
        if user is not None:
            query = query.where(t.access_grants.c.user_name == user)
        with self.engine.connect() as conn:
            return [
                {**_with_aware_times(r._mapping), "pii": bool(r.pii)} for r in conn.execute(query)
            ]

    def delete_user(self, name: str) -> tuple[int, int] | None:
        """Delete ``name`` with their grants and tokens; returns (grants, tokens) or None.

        Tokens are deleted, not only revoked: the user row they point to goes. The
        query audit names users by text, so their lines stay.
        """
        with self._tx() as conn:
            users = t.access_users
            if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first() is None:
                return None
            grants = conn.execute(
                t.access_grants.delete().where(t.access_grants.c.user_name == name)
            ).rowcount
            tokens = conn.execute(
                t.access_tokens.delete().where(t.access_tokens.c.user_name == name)
            ).rowcount
            conn.execute(users.delete().where(users.c.name == name))
            return int(grants or 0), int(tokens or 0)

    def add_token(self, user: str, token_sha256: str, prefix: str) -> int:
        with self._tx() as conn:
            result = conn.execute(
                t.access_tokens.insert().values(
                    user_name=user, token_sha256=token_sha256, prefix=prefix, created_at=now()
                )
            )
            return _new_id(result)

    def token_user(self, token_sha256: str) -> str | None:
        """The user owning a live (not revoked) token with this SHA-256."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.access_tokens.c.user_name).where(
                    t.access_tokens.c.token_sha256 == token_sha256,
                    t.access_tokens.c.revoked_at.is_(None),
                )
            ).first()
            return None if row is None else str(row.user_name)

    def tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        """Tokens without their hashes (id, user, prefix, created, revoked)."""
        c = t.access_tokens.c
        query = sa.select(c.id, c.user_name, c.prefix, c.created_at, c.revoked_at).order_by(c.id)
        if user is not None:
            query = query.where(c.user_name == user)
        with self.engine.connect() as conn:
            return [_with_aware_times(r._mapping) for r in conn.execute(query)]

    def revoke_tokens(self, user: str, token_id: int | None = None) -> int:
        c = t.access_tokens.c
        query = (
            t.access_tokens.update()
            .where(c.user_name == user, c.revoked_at.is_(None))
            .values(revoked_at=now())
        )
        if token_id is not None:
            query = query.where(c.id == token_id)
        with self._tx() as conn:
            return int(conn.execute(query).rowcount or 0)

    def audit_query(self, **values: Any) -> None:
        """One line of the query audit (user_name, door, sql, status, rows, duration_ms, error)."""
        if values.get("error"):
            values["error"] = REDACTOR(values["error"])
        with self._tx() as conn:
            conn.execute(t.query_audit.insert().values(at=now(), **values))

    def query_audit(self, user: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(t.query_audit).order_by(t.query_audit.c.id.desc()).limit(limit)
        if user is not None:
            query = query.where(t.query_audit.c.user_name == user)
        with self.engine.connect() as conn:
            return [_with_aware_times(r._mapping) for r in conn.execute(query)]

    def publish_state(self, dataset: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.publish_state).where(t.publish_state.c.dataset == dataset)
            ).first()
            return _with_aware_times(row._mapping) if row else None

    def set_publish_state(self, dataset: str, **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(t.publish_state.delete().where(t.publish_state.c.dataset == dataset))
            conn.execute(
                t.publish_state.insert().values(dataset=dataset, published_at=now(), **values)
            )

    def clear_publish_state(self, dataset: str | None = None) -> None:
        query = t.publish_state.delete()
        if dataset is not None:
            query = query.where(t.publish_state.c.dataset == dataset)
        with self._tx() as conn:
            conn.execute(query)

    # -- end of issue 6 section ------------------------------------------------------------

    # -- column lineage and PII clearances (issue 11) ------------------------------------
    def record_job_lineage(
        self,
        job: str,
        output_dataset: str,
        edges: Sequence[LineageEdge],
        cleared: Mapping[str, str],
        *,
        import_id: str,
    ) -> None:
        """Replace what ``job``'s last run recorded: its column lineage and its clearances.

        One transaction, so a reader never sees the edges of one run with the clearances
        of another. Rows of an earlier producer of ``output_dataset`` go too: one dataset
        has one producer, and its lineage is that producer's.
        """
        stamp = now()
        lin, clr = t.column_lineage, t.pii_clearances
        with self._tx() as conn:
            conn.execute(
                lin.delete().where((lin.c.job == job) | (lin.c.output_dataset == output_dataset))
            )
            conn.execute(clr.delete().where((clr.c.job == job) | (clr.c.dataset == output_dataset)))
            if edges:
                conn.execute(
                    lin.insert(),
                    [
                        {
                            "job": job,
                            "output_dataset": output_dataset,
                            "output_column": e.output_column,
                            "input_dataset": e.input_dataset,
                            "input_column": e.input_column,
                            "resolved": e.resolved,
                            "pii": e.pii,
                            "import_id": import_id,
                            "recorded_at": stamp,
                        }
                        for e in edges
                    ],
                )
            if cleared:
                conn.execute(
                    clr.insert(),
                    [
                        {
                            "job": job,
                            "dataset": output_dataset,
                            "column_name": column,
                            "reason": reason,
                            "import_id": import_id,
                            "cleared_at": stamp,
                        }
                        for column, reason in cleared.items()
                    ],
                )

    def column_lineage(
        self, *, dataset: str | None = None, job: str | None = None, upstream_of: str | None = None
    ) -> list[ColumnLineageRecord]:
        """Stored lineage edges: of ``dataset``'s columns, of ``job``, or reading ``upstream_of``.

        ``upstream_of`` (an input dataset) answers "what is derived from this dataset?".
        """
        c = t.column_lineage.c
        query = sa.select(t.column_lineage).order_by(c.output_dataset, c.id)
        if dataset is not None:
            query = query.where(c.output_dataset == dataset)
        if job is not None:
            query = query.where(c.job == job)
        if upstream_of is not None:
            query = query.where(c.input_dataset == upstream_of)
        with self.engine.connect() as conn:
            return [
                ColumnLineageRecord(
                    job=r.job,
                    output_dataset=r.output_dataset,
                    output_column=r.output_column,
                    input_dataset=r.input_dataset,
                    input_column=r.input_column,
                    resolved=bool(r.resolved),
                    pii=bool(r.pii),
                    import_id=r.import_id,
                    recorded_at=_aware(r.recorded_at) or now(),
                )
                for r in conn.execute(query)
            ]

    def pii_clearances(self, dataset: str | None = None) -> list[PiiClearance]:
        """Recorded clearances, of one dataset or all, by dataset then column."""
        c = t.pii_clearances.c
        query = sa.select(t.pii_clearances).order_by(c.dataset, c.column_name)
        if dataset is not None:
            query = query.where(c.dataset == dataset)
        with self.engine.connect() as conn:
            return [
                PiiClearance(
                    job=r.job,
                    dataset=r.dataset,
                    column=r.column_name,
                    reason=r.reason,
                    import_id=r.import_id,
                    cleared_at=_aware(r.cleared_at) or now(),
                )
                for r in conn.execute(query)
            ]

    # -- end of issue 11 section -----------------------------------------------------------


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "insert returned no primary key"
    return int(key[0])


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by _sqlite_begin
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("civiclake_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_BUSY_SQLSTATES = {"40001", "40P01", "55P03"}
"""PostgreSQL: serialization failure, deadlock, lock not available."""


def _translate(context: sa.engine.ExceptionContext) -> BaseException | None:
    """The one place driver errors become civiclake errors (message redacted)."""
    orig = context.original_exception
    if isinstance(orig, KeyboardInterrupt | SystemExit):
        return None
    code = getattr(orig, "sqlite_errorcode", None)
    busy = (code is not None and code & 0xFF in (5, 6)) or (  # SQLITE_BUSY, SQLITE_LOCKED
        getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES
    )
    where = _where(context)
    if busy:
        return MetadataBusyError(
            f"the metadata store{where} is busy: another civiclake process held its write "
            "lock for longer than the wait (metadata.busy_timeout_seconds in civiclake.yaml); "
            "nothing more was written. Let that process finish (`civiclake runs` lists the "
            "running ones) and run the command again"
        )
    if code is not None and (code & 0xFF == 13 or (code & 0xFF == 10 and _full(context))):
        return DiskFullError(  # SQLITE_FULL, or SQLITE_IOERR on a disk with no room left
            f"the metadata store{where} could not be written: the disk is full. Free space "
            "on that disk and run the command again (what was committed before is kept)"
        )
    if isinstance(context.sqlalchemy_exception, sa.exc.OperationalError):
        return MetadataError(f"the metadata store{where} failed: {REDACTOR(str(orig))}")
    return None


def _full(context: sa.engine.ExceptionContext) -> bool:
    """Whether the SQLite file's disk has (almost) no room left: an I/O error there is that."""
    import shutil

    engine = context.engine
    database = engine.url.database if engine is not None else None
    if not database:
        return False
    try:
        return shutil.disk_usage(Path(database).parent).free < 1024 * 1024
    except OSError:
        return False


def _where(context: sa.engine.ExceptionContext) -> str:
    """`` at <file>`` for a SQLite store (a server's URL may carry a password: not shown)."""
    engine = context.engine
    if engine is not None and engine.url.get_backend_name() == "sqlite" and engine.url.database:
        return f" at {engine.url.database}"
    return ""


def _resolve_sqlite(url: str, project_dir: Path | None) -> str:
    """Make ``sqlite:///relative.db`` relative to the project and create its folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        rel = url[len(prefix) :]
        base = project_dir or Path.cwd()
        path = (base / rel).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    if url.startswith(prefix + "/"):
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
    return url


def _with_aware_times(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as a dict, its datetimes UTC-aware (SQLite hands them back naive)."""
    return {k: _aware(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _run(row: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        id=row["id"],
        command=row["command"],
        selection=row["selection"],
        status=row["status"],
        started_at=_aware(row["started_at"]) or now(),
        ended_at=_aware(row["ended_at"]),
        log_path=row["log_path"],
        error=row["error"],
        pid=row["pid"],
    )


def _step(row: Mapping[str, Any]) -> StepRecord:
    values: dict[str, Any] = dict(row)
    values["started_at"] = _aware(values["started_at"])
    values["ended_at"] = _aware(values["ended_at"])
    return StepRecord(**values)


__all__: Sequence[str] = [
    "ColumnLineageRecord",
    "LineageEdge",
    "MetadataStore",
    "PiiClearance",
    "RunRecord",
    "StepRecord",
]


def head_revision() -> str:
    """The newest migration's revision id: migration files are named ``<revision>_<slug>.py``."""
    names = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))
    return names[-1].split("_", 1)[0]
