"""A history table as stored: its tiers' files, and the SQL relations over them
(latest, history, as of) that engines and publish read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from civiclake.naming import literal as _literal
from civiclake.snapshots import sql
from civiclake.snapshots.spec import _MAX_RECENT_FILES, SPEC_METADATA, HistorySpec
from civiclake.snapshots.sql import ARCHIVE, BASE, DELETED, PART, RECENT, SEQ, VALID_FROM, q

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb
    import pyarrow as pa

    FileRelation = Callable[[Sequence["DataFile"]], str]
    """A tier's files as a SQL relation (``read_parquet`` unless a session says otherwise)."""

    from civiclake.storage import TableStore
    from civiclake.storage.delta import DataFile


@dataclass(frozen=True)
class HistoryTable:
    """A history table's current state, from its Delta log (no data read)."""

    uri: str
    version: int
    schema: pa.Schema
    """Columns in table order, ``_part`` left out."""
    spec: HistorySpec
    base: list[DataFile]
    recent: list[DataFile]
    archive: list[DataFile]

    @property
    def base_rows(self) -> int:
        return sum(f.rows for f in self.base)

    @property
    def recent_rows(self) -> int:
        return sum(f.rows for f in self.recent)

    @property
    def everything(self) -> list[DataFile]:
        return [*self.base, *self.recent, *self.archive]

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def recent_is_newer(self) -> bool:
        """True when every recent version is at least as new as every base version."""
        newest_base = [f.max.get(VALID_FROM) for f in self.base if f.rows]
        oldest_recent = [f.min.get(VALID_FROM) for f in self.recent if f.rows]
        if not newest_base or not oldest_recent:
            return True
        if None in newest_base or None in oldest_recent:
            return False
        return bool(min(oldest_recent) >= max(newest_base))  # type: ignore[type-var,operator]

    def needs_compaction(self, ratio: float) -> bool:
        if not self.recent:
            return False
        too_many = self.recent_rows > ratio * max(self.base_rows, 1)
        return too_many or len(self.recent) > _MAX_RECENT_FILES


def open_history(tables: TableStore, uri: str) -> HistoryTable | None:
    """The history table at ``uri``; None when there is no table or it is a plain one."""
    import pyarrow as pa

    if not tables.exists(uri):
        return None
    version, schema, files = tables.files(uri)
    if SEQ not in schema.names or PART not in schema.names:
        return None
    spec = spec_of(schema)
    if spec is None:
        return None
    tiers: dict[str, list[DataFile]] = {BASE: [], RECENT: [], ARCHIVE: []}
    for f in files:
        part = f.partition.get(PART) or ""
        tiers[part if part in (BASE, RECENT) else ARCHIVE].append(f)
    shown = pa.schema([f for f in schema if f.name != PART])
    return HistoryTable(uri, version, shown, spec, tiers[BASE], tiers[RECENT], tiers[ARCHIVE])


def spec_of(schema: pa.Schema) -> HistorySpec | None:
    """The spec stored on a history table's ``_seq`` column (Delta field metadata)."""
    if SEQ not in schema.names:
        return None
    raw = (schema.field(SEQ).metadata or {}).get(SPEC_METADATA)
    return HistorySpec.from_json(raw) if raw is not None else None


# -- DuckDB relations ------------------------------------------------------------
def parquet_relation(files: Sequence[DataFile]) -> str:
    listed = ", ".join(_literal(f.uri) for f in files)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def relations(
    con: duckdb.DuckDBPyConnection,
    table: HistoryTable,
    prefix: str,
    relation: FileRelation = parquet_relation,
) -> tuple[str, str | None, str]:
    """(base, recent or None, everything) as SQL relations on ``con``.

    An empty tier becomes an empty Arrow table registered on ``con`` with the
    table's schema, since ``read_parquet([])`` is an error.
    """
    empty = f"__empty_{prefix}"
    con.register(empty, table.schema.empty_table())
    base = relation(table.base) if table.base else q(empty)
    recent = relation(table.recent) if table.recent else None
    everything = relation(table.everything) if table.everything else q(empty)
    return base, recent, everything


def latest_relation(
    con: duckdb.DuckDBPyConnection,
    table: HistoryTable,
    prefix: str,
    *,
    include_deleted: bool = False,
    relation: FileRelation = parquet_relation,
) -> str:
    """The latest version per key; with ``include_deleted``, tombstones too (with ``_deleted``)."""
    base, recent, _ = relations(con, table, prefix, relation)
    inner = sql.latest(
        base,
        recent,
        table.spec.key,
        recent_is_newer=table.recent_is_newer(),
        include_deleted=include_deleted,
    )
    if include_deleted:
        return inner
    return f"SELECT * EXCLUDE ({q(DELETED)}) FROM ({inner})"


def history_relation(
    con: duckdb.DuckDBPyConnection,
    table: HistoryTable,
    prefix: str,
    relation: FileRelation = parquet_relation,
) -> str:
    _, _, everything = relations(con, table, prefix, relation)
    return sql.history(everything, table.spec.key, table.columns, table.spec.deletes)


def as_of_relation(
    con: duckdb.DuckDBPyConnection,
    table: HistoryTable,
    prefix: str,
    day: str = "d",
    relation: FileRelation = parquet_relation,
) -> str:
    _, _, everything = relations(con, table, prefix, relation)
    return sql.as_of(everything, table.spec.key, day)


def as_known_relation(
    con: duckdb.DuckDBPyConnection,
    table: HistoryTable,
    prefix: str,
    when: str = "t",
    relation: FileRelation = parquet_relation,
) -> str:
    _, _, everything = relations(con, table, prefix, relation)
    return sql.as_known(everything, table.spec.key, when)


def diff_relation(
    con: duckdb.DuckDBPyConnection,
    table: HistoryTable,
    prefix: str,
    relation: FileRelation = parquet_relation,
    masked: Callable[[str], str] = lambda select: select,
) -> str:
    """``x_diff(t1, t2, known)``: the states at ``t1`` and ``t2`` compared (see
    :func:`sql.diff`); ``masked`` wraps each state as the reader may see it."""
    _, _, everything = relations(con, table, prefix, relation)
    key = table.spec.key
    before = masked(sql.state_at(everything, key, "t1", "known"))
    after = masked(sql.state_at(everything, key, "t2", "known"))
    return sql.diff(before, after, key, sql.compared(table.columns, key))


def changes_since(
    con: duckdb.DuckDBPyConnection,
    table: HistoryTable,
    seq: int,
    relation: FileRelation = parquet_relation,
) -> str:
    """Every version committed after ``seq`` (``_seq > seq``), all columns: what a reader
    that has seen up to ``seq`` lacks. Only files whose ``_seq`` statistics may hold such
    versions are read."""
    files = [f for f in table.everything if _may_hold_newer(f, seq)]
    if files:
        source = relation(files)
    else:
        source = f"__{SEQ}_nothing"
        con.register(source, table.schema.empty_table())
    columns = ", ".join(q(c) for c in table.columns)
    return f"SELECT {columns} FROM {source} WHERE {q(SEQ)} > {int(seq)}"


def max_seq(con: duckdb.DuckDBPyConnection, table: HistoryTable) -> int:
    """The newest ``_seq`` in the table (-1 when empty), from file statistics when they
    have it."""
    highs = [f.max.get(SEQ) for f in table.everything if f.rows]
    if not highs:
        return -1
    if None not in highs:
        return max(int(h) for h in highs if h is not None)
    row = con.execute(f"SELECT max({q(SEQ)}) FROM {parquet_relation(table.everything)}").fetchone()
    return -1 if row is None or row[0] is None else int(row[0])


def _may_hold_newer(f: DataFile, seq: int) -> bool:
    high = f.max.get(SEQ)
    return high is None or int(high) > seq
