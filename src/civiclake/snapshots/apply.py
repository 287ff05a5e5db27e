"""The history engine: apply a day's increment at a cost that follows the increment.

The reference platform rebuilt a full snapshot every day (left-anti join,
union, rewrite of the whole table). Here a keyed dataset is one Delta table
in three tiers (see :mod:`civiclake.snapshots.sql`): ``base`` (latest as of the
last compaction), ``recent`` (versions since) and ``archive-<n>`` (versions
retired by compaction ``n``). Each version lives in exactly one tier.

Applying an increment (:func:`apply_increment`):

1. stage it in DuckDB with its order (``_ord``), ``valid_from`` (the version
   column as a timestamp) and ``_deleted`` (the spec's delete rule);
2. rows without a key or version go to ``<dataset>__rejected`` with the reason;
3. drop re-deliveries: a row equal (key, ``valid_from`` and every data
   column) to an earlier row of the increment, or to a version already
   stored — only files whose ``valid_from`` range overlaps the increment's
   are read for that, so the check costs what the increment costs;
4. number the rows ``_seq`` = table version × 2³² + position, so ties on
   ``valid_from`` go to the later import, deterministically;
5. append them to ``recent`` in one Delta commit carrying the batch's
   application id — a re-run of the same batch is a no-op;
6. compact when ``recent`` holds more than ``compact_ratio`` of ``base``'s
   rows: one commit replaces ``base`` and ``recent`` by the new ``base`` and
   an ``archive`` partition of the versions it retired, then old files are
   vacuumed. Its cost is one rewrite of the table, amortised over the days
   between compactions.

A crash at any point leaves the last commit readable; the re-run applies the
batch exactly once (its application id) and finishes a compaction left undone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from civiclake.catalog import Entry
from civiclake.lineage import IMPORT_ID, IMPORTED_AT
from civiclake.naming import HISTORY_SUFFIX
from civiclake.naming import literal as _literal
from civiclake.snapshots import sql
from civiclake.snapshots.compact import _maybe_compact, finish_interrupted
from civiclake.snapshots.spec import (
    _SEQ_SHIFT,
    _WIDENINGS,
    REJECTED_SUFFIX,
    HistoryError,
    HistoryResult,
    HistorySpec,
    naive_utc,
)
from civiclake.snapshots.sql import ARCHIVE, BASE, DELETED, PART, RECENT, SEQ, VALID_FROM, q
from civiclake.snapshots.table import (
    HistoryTable,
    latest_relation,
    open_history,
    parquet_relation,
    relations,
)
from civiclake.snapshots.write import _ordered_columns, _reader, _write, connect
from civiclake.storage.staged import sql_literal

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb
    import pyarrow as pa

    FileRelation = Callable[[Sequence["DataFile"]], str]
    """A tier's files as a SQL relation (``read_parquet`` unless a session says otherwise)."""

    from civiclake.catalog import Catalog
    from civiclake.storage import DatasetRef
    from civiclake.storage.delta import DataFile


# -- applying increments ---------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """When an ``observed`` increment was seen, and how it relates to the table."""

    at: datetime
    full: bool = False
    compare_at: datetime | None = None
    reassert_at: datetime | None = None
    keep: Any = None
    """Keys (as text) seen but unreadable: not deleted by their absence."""


def apply_increment(
    catalog: Catalog,
    ref: DatasetRef,
    data: Any,
    spec: HistorySpec,
    *,
    app_id: str,
    import_id: str,
    producer: str,
    description: str = "",
    owner: str = "",
    pii: Sequence[str] = (),
    observed_at: datetime | None = None,
    full: bool = False,
    compare_at: datetime | None = None,
    reassert_at: datetime | None = None,
    keep: Any = None,
) -> HistoryResult:
    """Add an increment's versions to ``ref``'s history; latest and as-of follow.

    ``data`` is any Arrow table or stream of records in import order (ties on
    the version column go to the later row). Columns starting with ``_`` are
    lineage and are kept but not compared when spotting re-deliveries or changes.

    In ``observed`` mode (see :class:`HistorySpec`): ``observed_at`` (default now, UTC)
    dates what the source's clock cannot; ``full`` says the increment holds every key,
    so a key it lacks is deleted as of ``observed_at``; ``compare_at`` compares with
    the state valid at that time rather than latest (an export that arrived late), and
    ``reassert_at`` is the valid time of the next full observation already applied,
    from which the state it recorded is restored for the keys this one changed.
    ``keep`` (an Arrow table of key values as text) lists keys a full observation saw
    but could not read (rejected rows): their absence is not a delete.
    """
    uri = catalog.uri(ref)
    moment = Observation(
        at=naive_utc(observed_at) if observed_at is not None else naive_utc(datetime.now(UTC)),
        full=full,
        compare_at=naive_utc(compare_at) if compare_at is not None else None,
        reassert_at=naive_utc(reassert_at) if reassert_at is not None else None,
        keep=keep,
    )
    if spec.mode == "events" and spec.version is None:
        raise HistoryError("an events history needs a version column to date its versions")
    result = _apply(
        catalog, uri, data, spec, app_id=app_id, import_id=import_id, ref=ref, moment=moment
    )
    register(catalog, ref, producer=producer, description=description, owner=owner, pii=pii)
    return result


def _apply(
    catalog: Catalog,
    uri: str,
    data: Any,
    spec: HistorySpec,
    *,
    app_id: str,
    import_id: str,
    ref: DatasetRef,
    moment: Observation | None = None,
) -> HistoryResult:
    if moment is None:
        moment = Observation(at=naive_utc(datetime.now(UTC)))
    catalog.check(ref, uri)
    tables = catalog.tables
    if tables.committed_version(uri, app_id) is not None:
        finish_interrupted(catalog, uri)
        compacted = _maybe_compact(catalog, uri, ratio=spec.compact_ratio)
        return HistoryResult(0, 0, 0, 0, compacted, already_applied=True)
    current = open_history(tables, uri)
    if current is None and tables.exists(uri):
        raise HistoryError(
            f"{ref.qualified} already exists as a plain table, not a history table; "
            "drop it or give the source another dataset name"
        )
    if current is not None and current.spec.key != spec.key:
        raise HistoryError(
            f"{ref.qualified} is keyed by {', '.join(current.spec.key)}, not "
            f"{', '.join(spec.key)}; a new key needs `civiclake history rebuild`"
        )
    stored = replace(current.spec, deletes=spec.deletes) if current is not None else spec
    con = connect(catalog)
    try:
        notes: list[str] = []
        staged = _stage(con, data, spec, import_id)
        rejected = _reject_unusable(catalog, con, ref, spec, app_id)
        changes: list[tuple[str, str, str | None, str]] = []
        if current is not None:
            widened = _reconcile_types(catalog, con, current)
            changes += [("widened", c, old, new) for c, old, new in widened]
            staged_types = con.sql("DESCRIBE usable").fetchall()
            changes += [
                ("added", str(name), None, str(kind))
                for name, kind, *_ in staged_types
                if name not in current.schema.names and not str(name).startswith("_")
            ]
            if widened:  # the table was rewritten: its files and version changed
                current = open_history(tables, uri)
        if spec.mode == "observed":
            duplicates = 0
            unchanged, refreshed = _observe(con, spec, current, moment, import_id)
            if refreshed and current is not None:
                _refresh_in_place(catalog, con, current, spec.refresh)  # rare: see spec
                current = open_history(tables, uri)
                notes.append(f"{refreshed} latest versions' {', '.join(spec.refresh)} updated")
        else:
            # (a delete repeated later is kept: a late event may yet fall between the two)
            duplicates = _drop_redeliveries(con, spec, current)
            unchanged = 0
        added = [  # (an untyped all-NULL column says nothing yet: left for its first value)
            (c, kind)
            for change, c, _, kind in changes
            if change == "added" and kind.strip('"').upper() != "NULL"
        ]
        if added and current is not None and not _count(con, "kept"):
            # no version carries the new columns (all NULL, nothing else changed): the
            # stored versions get them, NULL, so latest and history show them
            _add_columns(catalog, con, current, added)
            current = open_history(tables, uri)
        version = current.version + 1 if current is not None else 0
        recorded = sql_literal(datetime.now(UTC))
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW fresh AS SELECT * EXCLUDE (_ord) "
            f"REPLACE ({recorded} AS {q(IMPORTED_AT)}), "
            f"CAST({version} AS BIGINT) * {_SEQ_SHIFT} + _ord AS {q(SEQ)} FROM kept"
        )
        counts = con.sql(f"SELECT count(*), count(*) FILTER ({q(DELETED)}) FROM fresh").fetchall()
        versions, deletes = int(counts[0][0]), int(counts[0][1])
        columns = _ordered_columns(con, "fresh", current)
        meta = {"civiclake.operation": "history-append", "civiclake.app_id": app_id}
        if current is None:  # the first batch goes straight to base (and archive)
            setup, new_base, retired = sql.compaction(
                "(SELECT * FROM fresh WHERE false)", "fresh", spec.key
            )
            for statement in setup:
                con.execute(statement)
            parts = {
                BASE: f"SELECT {columns} FROM ({new_base})",
                f"{ARCHIVE}-0": f"SELECT {columns} FROM ({retired})",
            }
        else:  # an empty append still records the batch as applied
            parts = {RECENT: f"SELECT {columns} FROM fresh"}
        catalog.check(ref, uri)  # the run still holds the dataset (runner/locks.py)
        written = _write(catalog, con, uri, parts, stored, app_id=app_id, metadata=meta)
        if staged and rejected:
            notes.append(f"{rejected} rows without a key or version rejected")
    finally:
        con.close()
    for change, column, old, new in changes:
        catalog.store.record_schema_change(
            ref.qualified, change, column, old_type=old, new_type=new, import_id=import_id
        )
        notes.append(
            f"column {column} {change}" + (f" from {old} to {new}" if old else f" ({new})")
        )
    catalog.check(ref, uri)
    compacted = _maybe_compact(catalog, uri, ratio=spec.compact_ratio)
    return HistoryResult(
        versions=versions,
        duplicates=duplicates,
        deletes=deletes,
        bytes_written=written.bytes_written,
        compacted=compacted,
        already_applied=False,
        rejected=rejected,
        notes=notes,
        unchanged=unchanged,
        rows_in=staged,
    )


def _ordinal(rows: int, start: int = 0) -> pa.Array:
    """``start, start + 1, …`` as an int64 array, without a Python loop."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ones = pc.fill_null(pa.nulls(rows, pa.int64()), 1)
    return pc.add(pc.cumulative_sum(ones), start - 1)


def _with_ordinal(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    start = 0
    for batch in reader:
        ordinal = _ordinal(batch.num_rows, start)
        start += batch.num_rows
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, ordinal], names=[*batch.schema.names, "_ord"]
        )


def _stage(con: duckdb.DuckDBPyConnection, data: Any, spec: HistorySpec, import_id: str) -> int:
    """Temp table ``staged``: the increment with ``_ord``, ``valid_from``, ``_deleted``."""
    import pyarrow as pa

    from civiclake.storage.staged import as_reader, sql_literal

    reader = as_reader(data)
    names = reader.schema.names
    needed = [*spec.key, *([spec.version] if spec.version and spec.mode == "events" else [])]
    for column in needed:
        if column not in names:
            raise HistoryError(
                f"the increment has no column {column!r} (needed as "
                f"{'key' if column in spec.key else 'version'}); columns: {', '.join(names)}"
            )
    for reserved in (VALID_FROM, DELETED, SEQ, PART, IMPORT_ID, IMPORTED_AT):
        if reserved in names:
            raise HistoryError(f"the increment has a column named {reserved!r}, which is reserved")
    if spec.deletes == "ignore" and spec.deleted:
        deleted_rule = f"coalesce(({spec.deleted}), false)"
    else:
        deleted_rule = None
    if isinstance(data, pa.Table):  # already in memory: DuckDB reads it in place
        con.register("increment", data.append_column("_ord", _ordinal(data.num_rows)))
        kind = "VIEW"
    else:  # a stream can be read once: DuckDB keeps a copy (spilling if it must)
        schema = pa.schema([*reader.schema, pa.field("_ord", pa.int64())])
        con.register("increment", pa.RecordBatchReader.from_batches(schema, _with_ordinal(reader)))
        kind = "TABLE"
    deleted = f"coalesce(({spec.deleted}), false)" if spec.deleted else "false"
    version = spec.version if spec.version in names else None
    stamp = f"CAST({q(version)} AS TIMESTAMP)" if version else "CAST(NULL AS TIMESTAMP)"
    lineage = [n for n in names if n.startswith("_")]
    data_cols = [n for n in names if not n.startswith("_")]
    now = sql_literal(datetime.now(UTC))
    select = ", ".join(q(n) for n in data_cols)
    extra = ", ".join(q(n) for n in lineage)
    try:
        con.execute(
            f"CREATE TEMP {kind} staged AS SELECT {select}, "
            f"{stamp} AS {q(VALID_FROM)}, "
            f"CAST({deleted} AS BOOLEAN) AS {q(DELETED)}, "
            f"{_literal(import_id)} AS {q(IMPORT_ID)}, {now} AS {q(IMPORTED_AT)}"
            f"{', ' + extra if extra else ''}, _ord FROM increment"
            + (f" WHERE NOT {deleted_rule}" if deleted_rule else "")
        )
        # evaluates the casts, so a bad value is reported here
        counted = con.sql(
            f"SELECT count(*), count({q(VALID_FROM)}), count({q(DELETED)}) FROM staged"
        ).fetchall()
    except Exception as exc:  # DuckDB binder/conversion errors
        raise HistoryError(
            f"cannot read the increment as versions (version column {spec.version!r}, "
            f"delete rule {spec.deleted!r}): {str(exc).strip()}"
        ) from None
    return int(counted[0][0])


def _reject_unusable(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    ref: DatasetRef,
    spec: HistorySpec,
    app_id: str,
) -> int:
    """Rows with a NULL key or version cannot be placed in history: to ``__rejected``.

    In ``observed`` mode a row without a version is dated by the observation, and a key
    given twice keeps its last row (the others are rejected).
    """
    needed = [*spec.key] if spec.mode == "observed" else [*spec.key, VALID_FROM]
    named = [*spec.key] if spec.mode == "observed" else [*spec.key, str(spec.version)]
    missing = " OR ".join(f"{q(c)} IS NULL" for c in needed)
    reason = " || ".join(
        f"CASE WHEN {q(c)} IS NULL THEN '{n} is missing; ' ELSE '' END"
        for c, n in zip(needed, named, strict=True)
    )
    if spec.mode == "observed":
        keys = ", ".join(q(k) for k in spec.key)
        # a hash aggregate finds the keys given twice (rare); no window over every row
        con.execute(
            f"CREATE TEMP TABLE __repeat AS SELECT s._ord FROM staged AS s JOIN "
            f"(SELECT {keys}, max(_ord) AS __last FROM staged GROUP BY {keys} "
            f"HAVING count(*) > 1) AS d USING ({keys}) WHERE s._ord < d.__last"
        )
        repeats = con.sql("SELECT count(*) FROM __repeat").fetchall()[0][0]
        if repeats:
            again = f"_ord IN (SELECT _ord FROM __repeat) AND NOT ({missing})"
            missing = f"({missing}) OR ({again})"
            reason = (
                f"CASE WHEN {again} THEN 'the key {', '.join(spec.key)} appears again later "
                f"in the same file or batch (the last row was kept); ' ELSE '' END || {reason}"
            )
    bad = con.sql(f"SELECT count(*) FROM staged WHERE {missing}").fetchall()[0][0]
    if bad:
        rejected = con.sql(
            f"SELECT * EXCLUDE (_ord, {q(VALID_FROM)}, {q(DELETED)}), "
            f"'{ref.qualified}: ' || rtrim({reason}, '; ') "
            f"|| CASE WHEN ({' OR '.join(f'{q(c)} IS NULL' for c in needed)}) "
            f"THEN ' (every version needs its key and version)' ELSE '' END AS _reject_reason "
            f"FROM staged WHERE {missing} ORDER BY _ord"
        ).to_arrow_table()
        catalog.write(
            ref.sibling(ref.name + REJECTED_SUFFIX),
            rejected,
            mode="append",
            producer=f"history:{ref.qualified}",
            app_id="rejected:" + app_id,
        )
    where = f" WHERE NOT ({missing})" if bad else ""
    con.execute(f"CREATE TEMP VIEW valid AS SELECT * FROM staged{where}")
    con.execute("CREATE TEMP VIEW usable AS SELECT * FROM valid")
    return int(bad)


def _data_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    names = [r[0] for r in con.sql(f"DESCRIBE {table}").fetchall()]
    return [n for n in names if not n.startswith("_")]


def _drop_redeliveries(
    con: duckdb.DuckDBPyConnection, spec: HistorySpec, current: HistoryTable | None
) -> int:
    """Temp table ``kept``: ``usable`` without versions seen before (here or in history)."""
    cols = _data_columns(con, "usable")
    keys = ", ".join(q(k) for k in spec.key)
    all_hash = "hash(" + ", ".join(q(c) for c in cols) + ")"
    repeated = con.sql(
        f"SELECT count(*) FROM (SELECT 1 FROM usable GROUP BY {keys}, {all_hash} "
        f"HAVING count(*) > 1)"
    ).fetchall()[0][0]
    if repeated:  # keep the first of identical rows
        con.execute(
            f"CREATE TEMP TABLE once AS SELECT * FROM usable SEMI JOIN "
            f"(SELECT min(_ord) AS _ord FROM usable GROUP BY {keys}, {all_hash}) USING (_ord)"
        )
    else:
        con.execute("CREATE TEMP VIEW once AS SELECT * FROM usable")
    source = "once"
    if current is not None and current.everything:
        low, high = con.sql(
            f"SELECT min({q(VALID_FROM)}), max({q(VALID_FROM)}) FROM once"
        ).fetchall()[0]
        candidates = [
            f
            for f in current.everything
            if f.rows
            and low is not None
            and (f.max.get(VALID_FROM) is None or f.max[VALID_FROM] >= low)
            and (f.min.get(VALID_FROM) is None or f.min[VALID_FROM] <= high)
        ]
        common = [c for c in cols if c in current.schema.names]
        if candidates and common:
            common_hash = "hash(" + ", ".join(q(c) for c in common) + ")"
            held = (
                f"SELECT {keys}, {q(VALID_FROM)}, {common_hash} AS __h "
                f"FROM {parquet_relation(candidates)} "
                f"WHERE {q(VALID_FROM)} BETWEEN TIMESTAMP '{low}' AND TIMESTAMP '{high}'"
            )
            on = " AND ".join([*(f"o.{q(k)} = h.{q(k)}" for k in spec.key)])
            con.execute(
                f"CREATE TEMP TABLE deduped AS SELECT o.* FROM once AS o ANTI JOIN ({held}) AS h "
                f"ON {on} AND o.{q(VALID_FROM)} = h.{q(VALID_FROM)} AND "
                f"hash({', '.join('o.' + q(c) for c in common)}) = h.__h"
            )
            source = "deduped"
    con.execute(f"CREATE TEMP VIEW kept AS SELECT * FROM {source}")
    before = con.sql("SELECT count(*) FROM usable").fetchall()[0][0]
    after = con.sql("SELECT count(*) FROM kept").fetchall()[0][0]
    return int(before - after)


def _observe(
    con: duckdb.DuckDBPyConnection,
    spec: HistorySpec,
    current: HistoryTable | None,
    moment: Observation,
    import_id: str,
) -> tuple[int, int]:
    """Temp table ``kept``: the versions an observation of the source's state makes.

    Per key, the row seen is compared with the version in force (latest, or the one
    valid at ``compare_at``), tombstones included:

    * a new key, a revival (the version in force is a tombstone) or a change of a
      tracked value (null-safe) is a version;
    * a delete (the spec's rule) of a live key is a tombstone carrying the last values;
      a delete of a deleted or unknown key adds nothing;
    * with a full observation, a live key not seen is a tombstone.

    A version is dated by the version column when that moved past the version in force,
    otherwise by the observation time (never earlier than the version it follows).
    Returns (rows unchanged, latest versions whose ``refresh`` columns differ).
    """
    keys = spec.key
    k = ", ".join(q(c) for c in keys)
    on = " AND ".join(f"i.{q(c)} = p.{q(c)}" for c in keys)
    at = sql_literal(moment.at)
    incoming = [r[0] for r in con.sql("DESCRIBE usable").fetchall()]
    data = [c for c in incoming if not c.startswith("_") and c not in (*keys, VALID_FROM)]
    held = set(current.columns) if current is not None else set()
    if current is None:
        con.execute("CREATE TEMP TABLE prior AS SELECT * FROM usable WHERE false")
    else:
        everything = relations(con, current, "prior")[2]
        if moment.compare_at is None or _newest_by(con, current, everything, moment.compare_at):
            # the state at a time no version is after is latest: no window over history
            rel = latest_relation(con, current, "prior", include_deleted=True)
        else:
            rel = (
                f"SELECT * FROM {everything} "
                f"WHERE {q(VALID_FROM)} <= {sql_literal(moment.compare_at)} "
                f"QUALIFY row_number() OVER ({sql.newest_first(keys)}) = 1"
            )
        narrow = "" if moment.full else f" SEMI JOIN usable USING ({k})"
        con.execute(f"CREATE TEMP TABLE prior AS SELECT * FROM ({rel}){narrow}")
    tracked = list(spec.track) if spec.track is not None else data
    if spec.track is not None:
        unknown = [c for c in tracked if c not in incoming]
        if unknown:
            raise HistoryError(
                f"track lists {', '.join(unknown)}, which the data does not have; "
                f"its columns: {', '.join(c for c in incoming if not c.startswith('_'))}"
            )
    same = " AND ".join(
        f"i.{q(c)} IS NOT DISTINCT FROM p.{q(c)}" if c in held else f"i.{q(c)} IS NULL"
        for c in tracked
        if c not in keys
    )
    changed = f"NOT ({same})" if same else "false"
    vf, dl = q(VALID_FROM), q(DELETED)
    # the source's stamp when it moved forward, but never after the change was seen (a
    # fast source clock); otherwise when it was seen, never before the version it follows
    seen = f"greatest({at}, p.{vf})"
    dated = (
        f"CASE WHEN i.{vf} IS NOT NULL AND (p.{vf} IS NULL OR i.{vf} > p.{vf}) "
        f"THEN least(i.{vf}, {seen}) ELSE {seen} END"
    )
    known = f"p.{q(keys[0])} IS NOT NULL"
    carry = [
        f"CASE WHEN i.{dl} THEN coalesce(i.{q(c)}, p.{q(c)}) ELSE i.{q(c)} END AS {q(c)}"
        for c in data
        if c in held
    ]
    replace_list = ", ".join([f"{dated} AS {vf}", *carry])
    # a delete known by its key alone (reconciliation) carries the last values too
    reserved = {VALID_FROM, DELETED, SEQ, PART, IMPORT_ID, IMPORTED_AT}
    absent = [c for c in (current.columns if current is not None else []) if c not in incoming]
    kept_values = "".join(
        f", CASE WHEN i.{dl} THEN p.{q(c)} END AS {q(c)}" for c in absent if c not in reserved
    )
    delete_ok = "false" if spec.deletes == "ignore" else "true"
    fresher = [c for c in spec.refresh if c in held and c in incoming]
    refreshing = bool(fresher) and current is not None
    # a row seen is a version or, if not deleted, unchanged; only the versions are kept
    # (most of a full export is unchanged) unless ``refresh`` needs the unchanged ones
    con.execute(
        f"CREATE TEMP TABLE __seen AS SELECT * FROM (SELECT i.* REPLACE ({replace_list})"
        f"{kept_values}, "
        f"(NOT i.{dl} AND ({known}) AND NOT p.{dl} AND NOT ({changed})) AS __unchanged, "
        f"((NOT i.{dl} AND (NOT ({known}) OR p.{dl} OR ({changed}))) "
        f"OR (i.{dl} AND ({known}) AND NOT p.{dl} AND {delete_ok})) AS __version "
        f"FROM usable AS i LEFT JOIN prior AS p ON {on})"
        + ("" if refreshing else " WHERE __version")
    )
    parts = ["SELECT * EXCLUDE (__unchanged, __version) FROM __seen WHERE __version"]
    top = con.sql("SELECT coalesce(max(_ord), 0) FROM usable").fetchall()[0][0]
    shown = [c for c in incoming if c not in (VALID_FROM, DELETED, "_ord")]
    lineage = {IMPORT_ID: _literal(import_id)}
    if moment.full and spec.deletes != "ignore" and current is not None:
        spared = ""
        if moment.keep is not None and moment.keep.num_rows:
            con.register("__keep", moment.keep)
            spared = " ANTI JOIN __keep AS kk ON " + " AND ".join(
                f"CAST(p.{q(c)} AS VARCHAR) = kk.{q(c)}" for c in keys
            )
        cols = ", ".join(
            lineage.get(c, f"p.{q(c)}" if c in held else f"NULL AS {q(c)}")
            + (f" AS {q(c)}" if c in lineage else "")
            for c in shown
        )
        parts.append(
            f"SELECT {cols}, greatest({at}, p.{vf}) AS {vf}, true AS {dl}, "
            f"{top} + row_number() OVER (ORDER BY {', '.join('p.' + q(c) for c in keys)}) "
            f"AS _ord FROM prior AS p ANTI JOIN usable AS i ON {on}{spared} WHERE NOT p.{dl}"
        )
    con.execute(f"CREATE TEMP TABLE __fresh AS {' UNION ALL BY NAME '.join(parts)}")
    if moment.compare_at is not None and moment.reassert_at is not None and current is not None:
        _reassert(con, spec, current, moment, shown, top, import_id)
    else:
        con.execute("CREATE TEMP VIEW kept AS SELECT * FROM __fresh")
    if refreshing:
        counts = con.sql("SELECT count(*) FILTER (__unchanged) FROM __seen").fetchall()[0]
    else:
        counts = con.sql(
            f"SELECT (SELECT count(*) FILTER (NOT {dl}) FROM usable) - "
            f"(SELECT count(*) FILTER (NOT {dl}) FROM __seen)"
        ).fetchall()[0]
    refreshed = 0
    if refreshing:
        differs = " OR ".join(f"i.{q(c)} IS DISTINCT FROM p.{q(c)}" for c in fresher)
        if differs:
            con.execute(
                f"CREATE TEMP TABLE __refresh AS SELECT p.{q(SEQ)}, "
                f"{', '.join(f'i.{q(c)}' for c in fresher)} "
                f"FROM __seen AS i JOIN prior AS p ON {on} WHERE i.__unchanged AND ({differs})"
            )
            refreshed = int(con.sql("SELECT count(*) FROM __refresh").fetchall()[0][0])
    return int(counts[0]), refreshed


def _newest_by(
    con: duckdb.DuckDBPyConnection, table: HistoryTable, everything: str, at: datetime
) -> bool:
    """Whether no version of the table is valid from after ``at`` (the usual case: the
    newest export so far), so the state at ``at`` is latest, tombstones included. From
    the files' statistics when they have them (no data read)."""
    highs = [f.max.get(VALID_FROM) for f in table.everything if f.rows]
    if highs and None not in highs:
        with suppress(TypeError):  # statistics of another type: ask the data
            return bool(max(highs) <= at)  # type: ignore[type-var,operator]
    newest = con.sql(f"SELECT max({q(VALID_FROM)}) FROM {everything}").fetchall()[0][0]
    return newest is None or newest <= at


def _reassert(
    con: duckdb.DuckDBPyConnection,
    spec: HistorySpec,
    current: HistoryTable,
    moment: Observation,
    shown: list[str],
    top: int,
    import_id: str,
) -> None:
    """A late observation changed keys up to the next one: restore the next one's state.

    For each key this observation changed that has no version between it and the next
    full observation, the version that was in force is repeated at the next
    observation's time (a key that was unknown then gets a tombstone), so later days
    answer exactly as before.
    """
    keys = spec.key
    k = ", ".join(q(c) for c in keys)
    vf, dl = q(VALID_FROM), q(DELETED)
    assert moment.compare_at is not None and moment.reassert_at is not None
    te, tn = sql_literal(moment.compare_at), sql_literal(moment.reassert_at)
    everything = relations(con, current, "reassert")[2]
    held = set(current.columns)
    lineage = {IMPORT_ID: _literal(import_id)}

    def column(c: str, table: str) -> str:
        if c in lineage:
            return f"{lineage[c]} AS {q(c)}"
        return f"{table}.{q(c)}" if c in held or table == "f" else f"NULL AS {q(c)}"

    con.execute(
        f"CREATE TEMP TABLE __between AS SELECT DISTINCT {k} FROM {everything} "
        f"WHERE {vf} > {te} AND {vf} <= {tn}"
    )
    on = " AND ".join(f"f.{q(c)} = p.{q(c)}" for c in keys)
    restored = ", ".join(
        f"CASE WHEN p.{q(keys[0])} IS NULL THEN {column(c, 'f').split(' AS ')[0]} "
        f"ELSE {column(c, 'p').split(' AS ')[0]} END AS {q(c)}"
        for c in shown
    )
    con.execute(
        "CREATE TEMP VIEW kept AS SELECT * FROM __fresh UNION ALL BY NAME "
        f"SELECT {restored}, {tn} AS {vf}, coalesce(p.{dl}, true) AS {dl}, "
        f"{top} + 1000000000 + row_number() OVER (ORDER BY {', '.join('f.' + q(c) for c in keys)}) "
        f"AS _ord FROM __fresh AS f LEFT JOIN prior AS p ON {on} "
        f"ANTI JOIN __between AS b ON {' AND '.join(f'f.{q(c)} = b.{q(c)}' for c in keys)} "
        f"WHERE {tn} > {te}"
    )


def _refresh_in_place(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    current: HistoryTable,
    columns: Sequence[str],
) -> None:
    """Rewrite base and recent with ``__refresh``'s values of ``columns`` (matched on
    ``_seq``): lineage that must follow the source without making a version."""
    present = [c for c in columns if c in current.columns]
    cols = ", ".join(
        f"coalesce(r.{q(c)}, t.{q(c)}) AS {q(c)}" if c in present else f"t.{q(c)}"
        for c in current.columns
    )
    _rewrite_tiers(
        catalog,
        con,
        current,
        lambda stored: (
            f"SELECT {cols}, t.{q(PART)} FROM {stored} AS t "
            f"LEFT JOIN __refresh AS r USING ({q(SEQ)})"
        ),
        tiers=(BASE, RECENT),
        operation="history-refresh",
    )


def _rewrite_tiers(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    current: HistoryTable,
    query: Callable[[str], str],
    *,
    tiers: Sequence[str] = (BASE, RECENT, ARCHIVE),
    operation: str,
) -> int | None:
    """Replace the files of ``tiers`` by ``query(stored)`` in one commit, where ``stored``
    is their rows with each one's ``_part`` and ``query`` gives the table's columns and
    ``_part``; the spec stays on ``_seq``. The new Delta version, or None without files."""
    files = {BASE: current.base, RECENT: current.recent, ARCHIVE: current.archive}
    parts = [(f, f.partition.get(PART) or tier) for tier in tiers for f in files[tier]]
    if not parts:
        return None
    stored = (
        "("
        + " UNION ALL BY NAME ".join(
            # the part comes from the log, not from the folder name (hive partitioning off)
            f"SELECT *, {_literal(part)} AS {q(PART)} FROM read_parquet("
            f"[{_literal(f.uri)}], hive_partitioning = false)"
            for f, part in parts
        )
        + ")"
    )
    everything = set(tiers) == {BASE, RECENT, ARCHIVE}
    listed = " OR ".join(
        f"{PART} = '{tier}'" if tier != ARCHIVE else f"{PART} LIKE '{ARCHIVE}-%'" for tier in tiers
    )
    written = catalog.tables.replace_partitions(
        current.uri,
        _reader(con, query(stored), current.spec),
        partition_by=[PART],
        predicate=None if everything else listed,
        metadata={"civiclake.operation": operation},
    )
    return written.version


def _reconcile_types(
    catalog: Catalog, con: duckdb.DuckDBPyConnection, current: HistoryTable
) -> list[tuple[str, str, str]]:
    """Widen table columns the increment widened (a rewrite); cast the rest to the table's.

    Returns the widened columns as (name, old type, new type).
    """
    import pyarrow as pa

    staged = con.sql("SELECT * FROM usable LIMIT 0").to_arrow_table().schema
    notes: list[tuple[str, str, str]] = []
    widen: dict[str, pa.DataType] = {}
    casts: dict[str, pa.DataType] = {}
    for f in staged:
        if f.name not in current.schema.names or f.name.startswith("_"):
            continue
        have = current.schema.field(f.name).type
        if have == f.type or pa.types.is_null(f.type):
            continue
        if (str(have), str(f.type)) in _WIDENINGS:
            widen[f.name] = f.type
            notes.append((f.name, str(have), str(f.type)))
        else:
            casts[f.name] = have
    if casts:
        replace = ", ".join(
            f"CAST({q(n)} AS {_duck_type(con, t)}) AS {q(n)}" for n, t in casts.items()
        )
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW usable AS SELECT * REPLACE ({replace}) FROM valid"
        )
    if widen:
        _rewrite_widened(catalog, con, current, widen)
    return notes


def _duck_type(con: duckdb.DuckDBPyConnection, arrow_type: pa.DataType) -> str:
    """DuckDB's name for an Arrow type (e.g. for a CAST)."""
    import pyarrow as pa

    con.register("__typeprobe", pa.schema([pa.field("x", arrow_type)]).empty_table())
    try:
        return str(con.sql("DESCRIBE __typeprobe").fetchall()[0][1])
    finally:
        con.unregister("__typeprobe")


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(con.sql(f"SELECT count(*) FROM {relation}").fetchall()[0][0])


def _add_columns(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    current: HistoryTable,
    added: Sequence[tuple[str, str]],
) -> None:
    """Rewrite the table with ``added`` (name, DuckDB type) columns, NULL in every version."""
    columns = ", ".join(q(c) for c in current.columns)
    extra = ", ".join(f"CAST(NULL AS {kind}) AS {q(c)}" for c, kind in added)
    _rewrite_tiers(
        catalog,
        con,
        current,
        lambda stored: f"SELECT {columns}, {extra}, {q(PART)} FROM {stored}",
        operation="history-add-columns",
    )


def _rewrite_widened(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    current: HistoryTable,
    widen: dict[str, pa.DataType],
) -> None:
    """Rewrite the whole table with wider column types (rare: a source changed a type)."""
    replace = ", ".join(f"CAST({q(n)} AS {_duck_type(con, t)}) AS {q(n)}" for n, t in widen.items())
    columns = ", ".join(q(c) for c in current.columns)
    _rewrite_tiers(
        catalog,
        con,
        current,
        lambda stored: (
            f"SELECT * REPLACE ({replace}) FROM (SELECT {columns}, {q(PART)} FROM {stored})"
        ),
        operation="history-widen",
    )


def rewrite(
    catalog: Catalog,
    ref: DatasetRef,
    con: duckdb.DuckDBPyConnection,
    select: Callable[[str], str],
    *,
    operation: str,
) -> bool:
    """Rewrite every version of ``ref``'s history in one commit: ``select(stored)`` is the
    SELECT list over ``stored`` (every file with its ``_part``) giving the table's columns
    (a column renamed or cast); ``_part``, ``_seq`` and the spec are kept. False when there
    is no history table or no version to rewrite. Rare: a config change that migrates
    stored rows."""
    uri = catalog.uri(ref)
    catalog.check(ref, uri)
    current = open_history(catalog.tables, uri)
    if current is None:
        return False
    version = _rewrite_tiers(
        catalog,
        con,
        current,
        lambda stored: f"SELECT {select(stored)}, {q(PART)} FROM {stored}",
        operation=operation,
    )
    if version is None:
        return False
    catalog.moved(uri, version)
    return True


# -- catalog ----------------------------------------------------------------------
def register(
    catalog: Catalog,
    ref: DatasetRef,
    *,
    producer: str,
    description: str = "",
    owner: str = "",
    pii: Sequence[str] = (),
) -> None:
    """Record ``x`` (latest) and ``x__history`` in the catalog."""
    uri = catalog.uri(ref)
    table = open_history(catalog.tables, uri)
    if table is None:
        return
    columns = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    entry = Entry(producer, table.spec.key, description, owner, pii)
    hidden = {DELETED, SEQ}
    catalog.record(
        ref,
        entry,
        columns=[c for c in columns if c["name"] not in hidden],
        # versions in base and recent, from the log: an upper bound on latest's rows
        # (an exact count needs the anti join, too dear to run on every apply)
        rows=table.base_rows + table.recent_rows,
        version=table.version,
        keep_description=True,
    )
    with_to = []
    for c in columns:
        with_to.append(c)
        if c["name"] == VALID_FROM:
            with_to.append({"name": sql.VALID_TO, "type": c["type"]})
    catalog.record(
        ref.sibling(ref.name + HISTORY_SUFFIX),
        entry,
        columns=with_to,
        rows=sum(f.rows for f in table.everything),
        version=table.version,
        keep_description=True,
        uri=uri,  # both faces are views of the one history table
    )
