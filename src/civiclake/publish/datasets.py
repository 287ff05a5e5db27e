"""Publishing one dataset: a full load swapped in, or a day's changes by key — atomically.

**Incremental (keyed datasets).** The history engine numbers every version
``_seq`` = Delta version × 2³² + row, and compaction keeps those numbers, so
the versions added since the last publish are exactly ``_seq > max_seq``.
Files whose ``_seq`` statistics end below that are not read. From the new
versions come the touched keys; a narrow aggregate over ``base`` ∪ ``recent``
(key, ``valid_from``, ``_seq``) finds each touched key's winner. Where the
winner is a new version, PostgreSQL's ``x`` loses the key's row and gets the
winner (unless it is a delete); where the winner is older (a late record), ``x``
is left alone. ``x__history`` gets the new versions with their ``valid_to`` and
``recorded_to`` (the engine's ``x__history`` shape); the older versions whose
intervals the increment changed are found in DuckDB
too (the touched keys' narrow columns, windowed with and without the new
versions) and updated by ``_seq``. One transaction: staging tables, ``DELETE …
USING``, ``INSERT``, the ``valid_to`` update and the published marker commit
together, so a reader sees the old or the new table, never half. The rows
written are the increment's, not the table's; the statements probe the key
indexes rather than hash the whole table.

**Full.** New tables are loaded beside the old (``x__load``), indexed, then
the old ones are dropped and the new renamed in the same transaction, with
their GRANTs and masked views. Used for the first publish, ``--full``, a
plain (unkeyed) dataset whose Delta version moved, a schema change, or a
history table that was rebuilt (new Delta table id).

**PII.** Each PII column travels with its masked copy, computed from the same
DuckDB read (:mod:`civiclake.publish.masks`); what it was masked with is part of
the published signature, so a new key or PII tag means a full publish.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from civiclake.naming import HISTORY_SUFFIX
from civiclake.publish import masks
from civiclake.publish.masks import masked_column
from civiclake.publish.roles import RoleNames, dataset_access
from civiclake.publish.types import is_nested, pg_type
from civiclake.publish.warehouse import Published, Warehouse, copy_in, q, qual, wrap_error

if TYPE_CHECKING:
    import duckdb
    import psycopg
    import pyarrow as pa

    from civiclake.access.policy import AccessPolicy
    from civiclake.project import Project
    from civiclake.snapshots import HistoryTable
    from civiclake.storage import DatasetRef

SEQ, VALID_FROM, VALID_TO, DELETED = "_seq", "valid_from", "valid_to", "_deleted"
RECORDED = "_imported_at"
"""A version's recorded time (civiclake.snapshots.sql.RECORDED)."""


@dataclass(frozen=True)
class PublishResult:
    dataset: str
    mode: str
    """``full``, ``incremental`` or ``unchanged``."""
    rows_written: int
    """Rows copied into PostgreSQL (``x`` and ``x__history``)."""
    rows_deleted: int
    seconds: float


@dataclass
class Context:
    project: Project
    warehouse: Warehouse
    conn: psycopg.Connection[Any]
    policy: AccessPolicy
    names: RoleNames
    history: bool
    valid_to_sentinel: str | None = None
    """``warehouse.valid_to_sentinel``: what an open ``valid_to`` holds (NULL by default)."""


def publish_dataset(ctx: Context, ref: DatasetRef, *, full: bool = False) -> PublishResult:
    from civiclake.snapshots import open_history

    started = time.perf_counter()
    uri = ctx.project.layout.table_uri(ref)
    table = open_history(ctx.project.tables, uri)
    table_id = _table_id(ctx.project, uri)
    state = ctx.warehouse.published(ctx.conn, ref.qualified)
    try:
        if table is None:
            version = ctx.project.tables.describe(uri).version
            if (
                not full
                and state is not None
                and (state.table_id, state.delta_version) == (table_id, version)
                and state.columns
                == _mask_signature(ctx, ref, _pg_columns(ctx, ref.schema, ref.name))
            ):
                _refresh_access(ctx, ref)
                return PublishResult(ref.qualified, "unchanged", 0, 0, _since(started))
            written = _full(ctx, ref, None, table_id, version)
            return PublishResult(ref.qualified, "full", written, 0, _since(started))
        columns = _signature(table, ctx.valid_to_sentinel) + _mask_signature(
            ctx, ref, list(table.columns)
        )
        usable = (
            state is not None
            and state.table_id == table_id
            and state.columns == columns
            and state.max_seq is not None
            and (not ctx.history or _has_table(ctx, ref.schema, ref.name + HISTORY_SUFFIX))
        )
        if not full and usable and state is not None:
            if state.delta_version == table.version:
                _refresh_access(ctx, ref)
                return PublishResult(ref.qualified, "unchanged", 0, 0, _since(started))
            written, deleted = _incremental(ctx, ref, table, table_id, state)
            return PublishResult(ref.qualified, "incremental", written, deleted, _since(started))
        written = _full(ctx, ref, table, table_id, table.version)
        return PublishResult(ref.qualified, "full", written, 0, _since(started))
    except Exception as exc:
        ctx.conn.rollback()
        if isinstance(exc, ImportError):
            raise
        raise wrap_error(exc, ref.qualified) from exc


def _refresh_access(ctx: Context, ref: DatasetRef, *, commit: bool = True) -> None:
    """GRANTs and masked views again (PII tags or masking may have changed; data did not)."""
    columns = {
        name: found
        for name in (ref.name, ref.name + HISTORY_SUFFIX)
        if (found := _pg_columns(ctx, ref.schema, name))
    }
    if columns:
        dataset_access(ctx.conn, ctx.policy, ctx.names, ref, sorted(columns), columns)
    if commit:
        ctx.conn.commit()


# -- full ----------------------------------------------------------------------------
def _full(
    ctx: Context, ref: DatasetRef, table: HistoryTable | None, table_id: str, version: int
) -> int:
    from civiclake.engines.duckdb import DuckDBSession

    conn, schema = ctx.conn, ref.schema
    session = ctx.project.engine().session()
    assert isinstance(session, DuckDBSession)  # masks are computed on its connection
    try:
        targets = [ref.name]
        if table is not None and ctx.history:
            targets.append(ref.name + HISTORY_SUFFIX)
        session.register([ref])
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
        written, columns, max_seq = 0, {}, None
        catalog_key = _catalog_key(ctx.project, ref)
        pii: list[str] = []
        for name in targets:
            relation = f"{q(schema)}.{q(name)}"
            if name != ref.name and ctx.valid_to_sentinel is not None:
                relation = (
                    f"(SELECT * REPLACE (coalesce({q(VALID_TO)}, "
                    f"{_sentinel(ctx)}) AS {q(VALID_TO)}) FROM {relation})"
                )
            described = _describe(session.sql, relation)
            pii = _pii(ctx, ref, list(described))
            extra = masks.mask_selects(ctx.policy.masker, session.con, ref.department, pii)
            reader = session.sql(_select_for_pg(described, relation, extra=extra))
            load = name + "__load"
            conn.execute(f"DROP TABLE IF EXISTS {qual(schema, load)}")
            # history rows get their valid_to updated in place: room on each page lets
            # PostgreSQL do that without touching the indexes (HOT updates)
            storage = " WITH (fillfactor = 90)" if name != ref.name else ""
            conn.execute(f"CREATE TABLE {qual(schema, load)} ({_ddl(reader.schema)}){storage}")
            written += copy_in(conn, qual(schema, load), reader)
            columns[name] = list(reader.schema.names)
            if table is not None:
                _index(conn, schema, load, list(table.spec.key), history=name != ref.name)
            elif catalog_key:
                _try_primary_key(conn, schema, load, catalog_key)
            conn.execute(f"ANALYZE {qual(schema, load)}")
        if table is not None:
            max_seq = _max_seq(ctx, table)
        for name in targets:
            conn.execute(f"DROP TABLE IF EXISTS {qual(schema, name)} CASCADE")
            conn.execute(f"ALTER TABLE {qual(schema, name + '__load')} RENAME TO {q(name)}")
            _rename_indexes(conn, schema, name)
        dataset_access(ctx.conn, ctx.policy, ctx.names, ref, targets, columns)
        signature = (
            _signature(table, ctx.valid_to_sentinel) if table is not None else []
        ) + masks.signature(ctx.policy.masker, ref.department, pii)
        ctx.warehouse.record(
            conn, Published(ref.qualified, table_id, version, max_seq, signature, written)
        )
        conn.commit()
        return written
    finally:
        session.close()


def _index(
    conn: psycopg.Connection[Any], schema: str, load: str, key: list[str], history: bool
) -> None:
    """Indexes built after the load (faster than maintaining them row by row)."""
    keys = ", ".join(q(k) for k in key)
    if history:
        conn.execute(f"CREATE UNIQUE INDEX {q(load + '__seq')} ON {qual(schema, load)} ({q(SEQ)})")
        conn.execute(f"CREATE INDEX {q(load + '__key')} ON {qual(schema, load)} ({keys})")
    else:
        conn.execute(
            f"ALTER TABLE {qual(schema, load)} ADD CONSTRAINT {q(load + '__pkey')} "
            f"PRIMARY KEY ({keys})"
        )


def _try_primary_key(conn: psycopg.Connection[Any], schema: str, load: str, key: list[str]) -> None:
    """A plain dataset's declared key as PRIMARY KEY when the data allows it (FK targets)."""
    import psycopg

    try:
        with conn.transaction():
            _index(conn, schema, load, key, history=False)
    except psycopg.errors.Error:
        pass  # duplicate or NULL keys: published without a primary key


def _rename_indexes(conn: psycopg.Connection[Any], schema: str, name: str) -> None:
    """``x__load__pkey`` → ``x__pkey``, once the old table and its indexes are gone."""
    load = name + "__load"
    rows = conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
        (schema, name),
    ).fetchall()
    for (index,) in rows:
        if index.startswith(load):
            final = name + index[len(load) :]
            conn.execute(f"ALTER INDEX {qual(schema, index)} RENAME TO {q(final)}")


def _catalog_key(project: Project, ref: DatasetRef) -> list[str]:
    row = project.store.dataset(ref.qualified)
    return list(row["key"] or []) if row else []


# -- incremental ---------------------------------------------------------------------
def _incremental(
    ctx: Context, ref: DatasetRef, table: HistoryTable, table_id: str, state: Published
) -> tuple[int, int]:
    from civiclake.publish.relationships import drop_foreign_keys
    from civiclake.snapshots import changes_since, relations

    conn, schema, key = ctx.conn, ref.schema, list(table.spec.key)
    assert state.max_seq is not None
    last = state.max_seq
    con = ctx.project.connections.open()
    try:
        keys = ", ".join(q(k) for k in key)
        con.execute(f"CREATE TEMP TABLE __new AS {changes_since(con, table, last)}")
        con.execute(f"CREATE TEMP TABLE __keys AS SELECT DISTINCT {keys} FROM __new")
        base, recent, everything = relations(con, table, "publish")
        narrow = f"{keys}, {q(VALID_FROM)}, {q(SEQ)}"
        if ctx.history:
            # every version of the touched keys, narrow: one scan serves both the winners
            # (archive only holds superseded versions, so the newest is never there) and
            # valid_to and recorded_to below
            versions = f"SELECT {narrow}, {q(RECORDED)} FROM {everything}"
        else:
            versions = f"SELECT {narrow} FROM {base}"
            if recent is not None:
                versions += f" UNION ALL SELECT {narrow} FROM {recent}"
        con.execute(
            f"CREATE TEMP TABLE __versions AS SELECT * FROM ({versions}) "
            f"SEMI JOIN __keys USING ({keys})"
        )
        con.execute(
            "CREATE TEMP TABLE __won AS SELECT arg_max("
            f"{q(SEQ)}, ({q(VALID_FROM)}, {q(SEQ)})) AS {q(SEQ)} FROM __versions GROUP BY {keys}"
        )
        con.execute(
            f"CREATE TEMP TABLE __winners AS SELECT * FROM __new SEMI JOIN __won USING ({q(SEQ)})"
        )
        described = _describe(lambda sql: _reader(con, sql), "__new")
        pii = _pii(ctx, ref, list(described))
        extra = masks.mask_selects(ctx.policy.masker, con, ref.department, pii)
        copies = [masked_column(c) for c in pii]
        key_types = ", ".join(f"{q(k)} {pg_type(table.schema.field(k).type, k)}" for k in key)

        # x: the touched keys whose winner is new lose their row and get the winner, copied
        # straight in (the transaction hides both steps); rows go in key order so the key
        # index's pages are visited once each, in order
        conn.execute(f"CREATE TEMP TABLE _stage_keys ({key_types}) ON COMMIT DROP")
        copy_in(conn, "_stage_keys", _reader(con, f"SELECT {keys} FROM __winners ORDER BY {keys}"))
        latest = [c for c in table.columns if c != DELETED]
        alive = f"NOT {q(DELETED)} ORDER BY {keys}"
        conn.execute("ANALYZE _stage_keys")
        drop_foreign_keys(conn, schema, ref.name)  # re-added, NOT VALID if need be, after
        # The statements below touch the increment's keys only. Left to itself the planner
        # hashes the whole table for a 1% increment (measured: 1.1 s of 4.8 s at 2M rows,
        # growing with the table); probing the key indexes keeps the cost with the increment.
        conn.execute("SET LOCAL enable_hashjoin = off")
        conn.execute("SET LOCAL enable_mergejoin = off")
        match = " AND ".join(f"t.{q(k)} = k.{q(k)}" for k in key)
        result = conn.execute(
            f"DELETE FROM {qual(schema, ref.name)} AS t USING _stage_keys AS k WHERE {match}"
        )
        deleted = max(result.rowcount or 0, 0)
        written = copy_in(
            conn,
            qual(schema, ref.name),
            _reader(con, _select_for_pg(described, "__winners", latest, alive, extra)),
            [*latest, *copies],
        )

        # x__history: the new versions with their valid_to, and the older versions whose
        # valid_to the increment changed — both found in DuckDB over the touched keys' narrow
        # columns (valid_to before and after), so PostgreSQL only inserts and updates by _seq
        if ctx.history:
            written += _history_increment(ctx, ref, table, con, keys, last, extra, copies)
        _refresh_access(ctx, ref, commit=False)
        row = con.execute(f"SELECT max({q(SEQ)}) FROM __new").fetchone()
        max_seq = last if row is None or row[0] is None else int(row[0])
        ctx.warehouse.record(
            conn, Published(ref.qualified, table_id, table.version, max_seq, state.columns, written)
        )
        conn.commit()
        return written, deleted
    finally:
        con.close()


def _history_increment(
    ctx: Context,
    ref: DatasetRef,
    table: HistoryTable,
    con: duckdb.DuckDBPyConnection,
    keys: str,
    last: int,
    extra: list[str],
    copies: list[str],
) -> int:
    """``x__history``: the new versions with their intervals, and the older versions whose
    ``valid_to`` or ``recorded_to`` the increment changed — both found in DuckDB over the
    touched keys' narrow columns (before and after), so PostgreSQL only inserts and
    updates by ``_seq``. The rows have the shape of the engine's ``x__history``
    (:func:`civiclake.snapshots.sql.history`): tombstones only with ``deletes:
    new_record``, as ``is_deleted``."""
    from civiclake.snapshots.sql import IS_DELETED, RECORDED_FROM, RECORDED_TO

    conn, schema = ctx.conn, ref.schema
    history = qual(schema, ref.name + HISTORY_SUFFIX)
    _intervals(con, list(table.spec.key), last, _sentinel(ctx))
    shown = []
    for c in table.columns:
        if c == DELETED:
            continue
        shown.append(f"n.{q(c)}")
        if c == VALID_FROM:
            shown += [
                f"v.{q(VALID_TO)}",
                f"n.{q(RECORDED)} AS {q(RECORDED_FROM)}",
                f"v.{q(RECORDED_TO)}",
            ]
    if table.spec.deletes == "new_record":
        shown.append(f"n.{q(DELETED)} AS {q(IS_DELETED)}")
        where = ""
    else:
        where = f" WHERE NOT n.{q(DELETED)}"
    con.execute(
        f"CREATE TEMP VIEW __new_history AS SELECT {', '.join(shown)} FROM __new AS n "
        f"JOIN __vt AS v USING ({q(SEQ)}){where} ORDER BY {keys}, {q(SEQ)}"
    )
    described = _describe(lambda sql: _reader(con, sql), "__new_history")
    written = copy_in(
        conn,
        history,
        _reader(con, _select_for_pg(described, "__new_history", extra=extra)),
        [*described, *copies],
    )
    vt_type = pg_type(table.schema.field(VALID_FROM).type, VALID_FROM)
    rt_type = pg_type(table.schema.field(RECORDED).type, RECORDED)
    conn.execute(
        f"CREATE TEMP TABLE _stage_vt ({q(SEQ)} bigint, {q(VALID_TO)} {vt_type}, "
        f"{q(RECORDED_TO)} {rt_type}) ON COMMIT DROP"
    )
    copy_in(
        conn,
        "_stage_vt",
        _reader(
            con,
            f"SELECT {q(SEQ)}, {q(VALID_TO)}, {q(RECORDED_TO)} FROM __vt "
            f"WHERE {q(SEQ)} <= {last} AND ({q(VALID_TO)} IS DISTINCT FROM old_valid_to "
            f"OR {q(RECORDED_TO)} IS DISTINCT FROM old_recorded_to) ORDER BY {q(SEQ)}",
        ),
    )
    conn.execute("ANALYZE _stage_vt")
    conn.execute(
        f"UPDATE {history} AS t SET {q(VALID_TO)} = s.{q(VALID_TO)}, "
        f"{q(RECORDED_TO)} = s.{q(RECORDED_TO)} FROM _stage_vt AS s "
        f"WHERE t.{q(SEQ)} = s.{q(SEQ)}"
    )
    return written


def _sentinel(ctx: Context) -> str:
    """SQL for an open ``valid_to``: NULL, or the configured sentinel timestamp."""
    if ctx.valid_to_sentinel is None:
        return "NULL"
    return f"TIMESTAMP '{ctx.valid_to_sentinel}'"


def _intervals(con: duckdb.DuckDBPyConnection, key: list[str], last: int, sentinel: str) -> None:
    """``__vt``: per version of a touched key, ``valid_to`` and ``recorded_to`` now and
    before the increment (the expressions of the engine's ``x__history``)."""
    from civiclake.snapshots.sql import RECORDED_TO, intervals

    valid_to, recorded_to = intervals(key, sentinel)

    def both(vt: str, rt: str) -> str:
        return f"{q(SEQ)}, {valid_to} AS {vt}, {recorded_to} AS {rt}"

    con.execute(
        f"CREATE TEMP TABLE __vt AS SELECT a.*, b.old_valid_to, b.old_recorded_to FROM "
        f"(SELECT {both(q(VALID_TO), q(RECORDED_TO))} FROM __versions) AS a "
        f"LEFT JOIN (SELECT {both('old_valid_to', 'old_recorded_to')} "
        f"FROM __versions WHERE {q(SEQ)} <= {last}) AS b USING ({q(SEQ)})"
    )


def _has_table(ctx: Context, schema: str, table: str) -> bool:
    row = ctx.conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (schema, table)
    ).fetchone()
    return row is not None


def _max_seq(ctx: Context, table: HistoryTable) -> int:
    from civiclake.snapshots import max_seq

    with ctx.project.connections.connect() as con:
        return max_seq(con, table)


# -- helpers -----------------------------------------------------------------------
def _signature(table: HistoryTable, sentinel: str | None = None) -> list[list[str]]:
    """What the published tables' shape depends on: a change means a full publish."""
    shape = ["history-shape", f"2:{table.spec.deletes}:{sentinel or ''}"]
    return [[f.name, pg_type(f.type, f.name)] for f in table.schema] + [shape]


def _pii(ctx: Context, ref: DatasetRef, columns: list[str]) -> list[str]:
    """The dataset's PII-tagged columns among ``columns`` (in ``columns``' order)."""
    info = ctx.policy.datasets.get(ref.qualified)
    tagged = set(info.pii if info else ())
    return [c for c in columns if c in tagged]


def _mask_signature(ctx: Context, ref: DatasetRef, columns: list[str]) -> list[list[str]]:
    return masks.signature(ctx.policy.masker, ref.department, _pii(ctx, ref, columns))


def _plain_mask_signature(ctx: Context, ref: DatasetRef) -> list[list[str]]:
    return _mask_signature(ctx, ref, _pg_columns(ctx, ref.schema, ref.name))


def _pg_columns(ctx: Context, schema: str, table: str) -> list[str]:
    """A published table's columns, in order (masked copies included)."""
    rows = ctx.conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return [r[0] for r in rows]


def _ddl(schema: pa.Schema) -> str:
    return ", ".join(f"{q(f.name)} {pg_type(f.type, f.name)}" for f in schema)


def _describe(run: Any, relation: str) -> dict[str, bool]:
    """``{column: is nested}`` of a relation, in order (``run`` returns an Arrow reader)."""
    schema = run(f"SELECT * FROM {relation} LIMIT 0").schema
    return {f.name: is_nested(f.type) for f in schema}


def _select_for_pg(
    described: dict[str, bool],
    relation: str,
    columns: list[str] | None = None,
    where: str | None = None,
    extra: list[str] | None = None,
) -> str:
    """``SELECT`` of ``columns`` with nested ones as JSON text (PostgreSQL ``jsonb``).

    ``extra`` (the masked copies) come last.
    """
    parts = [
        f"to_json({q(c)}) AS {q(c)}" if described[c] else q(c)
        for c in (columns if columns is not None else list(described))
    ] + list(extra or ())
    return f"SELECT {', '.join(parts)} FROM {relation}" + (f" WHERE {where}" if where else "")


def _reader(con: duckdb.DuckDBPyConnection, sql: str) -> pa.RecordBatchReader:
    return con.sql(sql).to_arrow_reader(batch_size=122_880)


def _table_id(project: Project, uri: str) -> str:
    """The Delta table's id: a rebuilt history table is a new table with new ``_seq``s."""
    return str(project.tables.open(uri).metadata().id)


def _since(started: float) -> float:
    return time.perf_counter() - started
