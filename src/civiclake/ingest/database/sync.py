"""One table's sync: read what changed since the cursor (minus the overlap), keep it, apply it.

A sync of table ``t`` with cursor column ``updated_at``:

1. If a previous run recorded a batch it may not have applied, apply it (once: its Delta
   application id is its import id) and move the cursor on.
2. Read ``SELECT <columns>, <row hash> FROM t WHERE updated_at >= <cursor − overlap>`` in
   Arrow batches into one Parquet file in landing (``…/<table>/<date>/<import>-<kind>.parquet``):
   what the source sent, unmodified. The first sync, a table without a cursor, and a table
   whose source gained a column read everything instead (``full``).
3. Record the batch (file, next cursor) in the catalog, then apply it to the raw dataset's
   history: a row whose key's latest version has the same row hash is an overlap re-read and
   is dropped; the rest become versions. After a ``full`` read, keys the platform holds but
   the source no longer has become tombstones.
4. Save the cursor: the newest ``updated_at`` read, in the source's clock (never ours).

**Ordering versions.** A version's ``valid_from`` is its ``updated_at``, but always later
than the key's latest version's (by a microsecond when it must): a server whose clock is
behind, or an update that did not bump ``updated_at``, must still make the newer row win.
That time is kept in ``_changed_at`` (the history's version column); ``updated_at`` itself
is kept as the source had it.

A crash anywhere leaves the previous state readable: before step 3 nothing was recorded (the
next run reads again); after it, the next run applies the recorded file exactly once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.ingest.database.connection import ROW_HASH, SourceDatabase
from civiclake.ingest.exceptions import IngestError
from civiclake.naming import quote as q
from civiclake.snapshots import HistorySpec, apply_increment, latest_relation, open_history
from civiclake.storage import DatasetRef
from civiclake.storage.staged import sql_literal

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import sqlalchemy as sa

    from civiclake.ingest.database.config import DatabaseConfig, DatabaseTable
    from civiclake.project import Project
    from civiclake.snapshots import HistoryResult

CHANGED_AT = "_changed_at"
"""When a version took effect as far as the platform can order it (its ``valid_from``)."""
SOURCE_DELETED = "_source_deleted"
"""True on a tombstone: the key is gone from the source (a hard delete)."""


@dataclass
class Pending:
    """A batch kept in landing and recorded, possibly not yet applied."""

    import_id: str
    kind: str
    """``full``, ``incremental`` or ``repair``."""
    rows: list[str]
    """Parquet files of rows read (landing paths)."""
    deleted: list[str] = field(default_factory=list)
    """Parquet files of keys found deleted at the source."""
    next_cursor: str | None = None
    full_extract: bool = False
    """Every source row was read: keys not in it are deleted."""
    rows_read: int = 0
    observed: str | None = None
    """When the read began (ISO, UTC): the time of what the source's clock cannot date —
    a change that did not move the cursor, a delete found by absence."""

    def observed_at(self) -> datetime:
        return datetime.fromisoformat(self.observed) if self.observed else datetime.now(UTC)


@dataclass
class TableState:
    """What the catalog keeps per synced table (JSON in the ``cursors`` table)."""

    cursor: str | None = None
    """Newest cursor value read (ISO), in the source's clock."""
    columns: list[str] = field(default_factory=list)
    """The source's columns at the last read (a new one triggers a full read)."""
    reconciled_at: str | None = None
    pending: Pending | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> TableState:
        if not text:
            return cls()
        data = json.loads(text)
        pending = data.pop("pending", None)
        return cls(**data, pending=Pending(**pending) if pending else None)


@dataclass
class Applied:
    """One applied batch, for the step's counts."""

    kind: str
    rows_read: int
    versions: int
    unchanged: int
    deletes: int
    bytes_written: int
    notes: list[str] = field(default_factory=list)


class TableSync:
    """Syncing one table of a database source into its raw history dataset."""

    def __init__(
        self,
        project: Project,
        *,
        node: str,
        department: str,
        source_name: str,
        name: str,
        settings: DatabaseTable,
        config: DatabaseConfig,
        db: SourceDatabase,
    ) -> None:
        self.project = project
        self.node = node
        self.department = department
        self.source_name = source_name
        self.name = name
        self.settings = settings
        self.config = config
        self.db = db
        self.ref = DatasetRef(department, "raw", settings.dataset or name)
        self.spec = HistorySpec(
            key=tuple(settings.key),
            version=settings.cursor,
            deleted=q(SOURCE_DELETED),
            mode="observed",
            track=tuple(settings.track) if isinstance(settings.track, list) else None,
            deletes=settings.deletes,
            refresh=(ROW_HASH,),
        )
        self._table: sa.Table | None = None

    # -- state ---------------------------------------------------------------------
    @property
    def source_table(self) -> str:
        return self.settings.source_table or self.name

    def state(self) -> TableState:
        return TableState.from_json(self.project.store.get_cursor(self.node, self.name))

    def save(self, state: TableState) -> None:
        self.project.store.set_cursor(self.node, self.name, state.to_json())

    @property
    def table(self) -> sa.Table:
        """The source table, reflected once per sync."""
        if self._table is None:
            self._table = self.db.table(self.source_table)
            self._check_columns(self._table)
        return self._table

    def _check_columns(self, table: sa.Table) -> None:
        names = [c.name for c in table.columns]
        wanted = [*self.settings.key] + ([self.settings.cursor] if self.settings.cursor else [])
        for column in wanted:
            if column not in names:
                role = "cursor" if column == self.settings.cursor else "key"
                raise IngestError(
                    f"{self.db.where}, tables.{self.name}: the source table {self.source_table} "
                    f"has no column {column!r} (the {role}); its columns: {', '.join(names)}"
                )

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.table.columns]

    # -- one sync --------------------------------------------------------------------
    def sync(self, *, today: str) -> list[Applied]:
        """Finish a recorded batch, then read and apply what changed; returns what was applied."""
        done: list[Applied] = []
        state = self.state()
        if state.pending is not None:
            done.append(self.finish(state))
            state = self.state()
        columns = self.columns
        added = [c for c in columns if state.columns and c not in state.columns]
        full = state.cursor is None or self.settings.cursor is None or bool(added)
        select = self.select_sql(columns)
        if full:
            where, kind = "", "full"
        else:
            since = _parse(state.cursor) - timedelta(minutes=self._overlap)  # type: ignore[arg-type]
            cursor_col = self.table.c[self.settings.cursor]  # type: ignore[index]
            where, kind = " WHERE " + self.db.render(cursor_col >= since), "incremental"
        import_id = new_import_id()
        path = self.landing_path(today, import_id, kind)
        observed = datetime.now(UTC).isoformat()
        rows, newest = self._read_to(path, select + where, f"reading {self.source_table}")
        next_cursor = _later(state.cursor, newest)
        state.pending = Pending(
            import_id=import_id,
            kind=kind,
            rows=[str(path)] if rows else [],
            next_cursor=next_cursor,
            full_extract=full,
            rows_read=rows,
            observed=observed,
        )
        state.columns = columns
        self.save(state)
        applied = self.finish(state)
        if added:
            applied.notes.append(
                f"column {', '.join(added)} added at the source: read the whole table once"
            )
        done.append(applied)
        return done

    @property
    def _overlap(self) -> int:
        own = self.settings.overlap_minutes
        return self.config.overlap_minutes if own is None else own

    def select_sql(self, columns: Sequence[str]) -> str:
        cols = ", ".join(self.db.quote(c) for c in columns)
        return (
            f"SELECT {cols}, {self.db.row_hash(self.table)} AS {ROW_HASH} "
            f"FROM {self.db.quote_table(self.table)}"
        )

    def landing_path(self, today: str, import_id: str, kind: str) -> Path:
        folder = self.project.layout.landing_archive(self.department, self.source_name, today)
        path = Path(folder) / self.name / f"{import_id}-{kind}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _read_to(self, path: Path, sql: str, doing: str) -> tuple[int, Any]:
        """Stream ``sql``'s rows into the Parquet file ``path``: (rows, newest cursor value)."""
        return write_batches(
            path,
            self.db.stream(sql, self.table, batch_rows=self.config.batch_rows, doing=doing),
            cursor=self.settings.cursor,
        )

    def finish(self, state: TableState) -> Applied:
        """Apply the recorded batch (once), then move the cursor on and clear it."""
        pending = state.pending
        assert pending is not None
        applied = self.apply(pending)
        if pending.kind != "repair":
            state.cursor = pending.next_cursor or state.cursor
        if pending.full_extract:  # every row was just compared: as good as a reconciliation
            state.reconciled_at = datetime.now(UTC).isoformat()
        state.pending = None
        self.save(state)
        return applied

    # -- applying ----------------------------------------------------------------------
    def apply(self, pending: Pending) -> Applied:
        """Turn a landed batch into versions: the history engine compares each row with the
        version held (``observed`` mode), so unchanged rows add nothing, a change the
        source's clock did not date and a delete are dated when this sync saw them."""
        uri = self.project.layout.table_uri(self.ref)
        current = open_history(self.project.tables, uri)
        if not pending.rows and not pending.deleted and not pending.full_extract:
            return Applied(pending.kind, 0, 0, 0, 0, 0)
        if current is None and not pending.rows:
            return Applied(pending.kind, pending.rows_read, 0, 0, 0, 0)
        con = connect(self.project)
        try:
            self._incoming(con, pending, current)
            result: HistoryResult = apply_increment(
                self.project.catalog,
                self.ref,
                con.sql("SELECT * FROM incoming").to_arrow_reader(self.config.batch_rows),
                self.spec,
                app_id=f"database:{self.node}:{self.name}:{pending.import_id}",
                import_id=pending.import_id,
                producer=self.node,
                description=self.settings.description
                or f"{self.source_table} of {self.node}, synced",
                owner=self.config.owner,
                pii=self.config.pii,
                observed_at=pending.observed_at(),
                full=pending.full_extract,
            )
        finally:
            con.close()
        return Applied(
            kind=pending.kind,
            rows_read=pending.rows_read,
            versions=result.versions,
            unchanged=result.unchanged,
            deletes=result.deletes,
            bytes_written=result.bytes_written,
            notes=list(result.notes),
        )

    def _incoming(self, con: duckdb.DuckDBPyConnection, pending: Pending, current: Any) -> None:
        """Temp view ``incoming``: the rows read, and the keys found deleted (as rows
        marked ``_source_deleted`` holding only their key)."""
        keys = ", ".join(q(k) for k in self.spec.key)
        parts = []
        if pending.rows:
            listed = ", ".join(sql_literal(p) for p in pending.rows)
            parts.append(
                f"SELECT *, false AS {q(SOURCE_DELETED)} FROM read_parquet([{listed}], "
                "union_by_name = true, hive_partitioning = false)"
            )
        if pending.deleted:
            listed = ", ".join(sql_literal(p) for p in pending.deleted)
            parts.append(
                f"SELECT {keys}, true AS {q(SOURCE_DELETED)} FROM read_parquet([{listed}])"
            )
        if not parts:  # a full extract of an emptied table: every key is gone
            latest = latest_relation(con, current, "prior")
            parts.append(f"SELECT {keys}, false AS {q(SOURCE_DELETED)} FROM ({latest}) LIMIT 0")
        # a view: the engine streams it once (a first load is never held in memory here)
        con.execute(f"CREATE TEMP VIEW incoming AS {' UNION ALL BY NAME '.join(parts)}")


def write_batches(
    path: Path, batches: Iterator[pa.RecordBatch], *, cursor: str | None
) -> tuple[int, Any]:
    """Write ``batches`` to one Parquet file (deleted again if reading fails midway).

    Returns (rows written, the largest non-null value of ``cursor``). No file is left when
    there were no rows.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = 0
    newest: Any = None
    writer: pq.ParquetWriter | None = None
    partial = path.with_suffix(".partial")
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                writer = pq.ParquetWriter(partial, batch.schema, compression="zstd")
            writer.write_batch(batch)
            rows += batch.num_rows
            if cursor is not None:
                top = pc.max(batch.column(cursor)).as_py()
                if top is not None and (newest is None or top > newest):
                    newest = top
        if writer is not None:
            writer.close()
            writer = None
            partial.replace(path)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return rows, newest


def connect(project: Project) -> duckdb.DuckDBPyConnection:
    """The history engine's DuckDB connection, in UTC (cursor values compare in UTC)."""
    return project.connections.open(ordered=False, timezone="UTC")


def new_import_id() -> str:
    """Sortable by time, so landing files list in the order they were read."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _later(current: str | None, candidate: Any) -> str | None:
    """The later of a stored cursor (ISO text) and a value read, as ISO text."""
    if candidate is None:
        return current
    if isinstance(candidate, str):
        candidate = datetime.fromisoformat(candidate)
    if not isinstance(candidate, datetime):  # a DATE cursor
        candidate = datetime(candidate.year, candidate.month, candidate.day)
    if current is None:
        return candidate.isoformat()
    old = _parse(current)
    if (old.tzinfo is None) != (candidate.tzinfo is None):
        return candidate.isoformat()  # the column's type changed: trust what was read
    return max(old, candidate).isoformat()
