"""Reconciliation: find what a sync missed by comparing row hashes per key range, and repair it.

An incremental sync cannot see a row whose change did not move its cursor (an update that
did not bump ``updated_at``), one committed after its overlap window had passed (a long
transaction), or a hard delete. A reconciliation finds all three cheaply:

1. Split the key space into ``fanout`` ranges of the first key column, at boundaries taken
   from the platform's keys (quantiles), and compute per range ``count(*)`` and the sum of
   row hashes — in the source database by SQL, and in DuckDB over the platform's latest
   table, whose rows carry the hash the source computed when they were read. Only two small
   aggregate results cross the wire; no full row is read when nothing differs.
2. Split each range whose (count, sum) differ again, until a range holds at most
   ``leaf_rows`` rows (or cannot be split); then compare those ranges key by key (keys and
   hashes only).
3. Classify: **missing** (at the source, not on the platform), **stale** (hashes differ),
   **deleted** (on the platform, not at the source — confirmed by looking the keys up).
4. Repair: read just the missing and stale rows by key, keep them in landing, and apply them
   with tombstones for the deleted keys through the same path as a sync (so a crash is safe
   and a re-run applies them once). The report goes to the catalog's ``reconciliations``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from civiclake.ingest.database.connection import ROW_HASH
from civiclake.ingest.database.sync import (
    Applied,
    Pending,
    TableSync,
    connect,
    new_import_id,
    write_batches,
)
from civiclake.naming import quote as q
from civiclake.snapshots import latest_relation, open_history, relations
from civiclake.storage.staged import sql_literal

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

KINDS = ("missing", "stale", "deleted")
KEY_CHUNK = 500
"""Keys per ``IN (…)`` list when reading rows by key."""
RANGES_PER_QUERY = 200
"""Differing ranges whose keys one query reads."""


@dataclass
class Report:
    """What one reconciliation of one table found and repaired."""

    table: str
    dataset: str
    source_rows: int = 0
    platform_rows: int = 0
    ranges_compared: int = 0
    keys_compared: int = 0
    """Keys (with their hashes, not whole rows) read to compare differing ranges."""
    rows_fetched: int = 0
    """Whole rows read from the source to repair."""
    missing: int = 0
    stale: int = 0
    deleted: int = 0
    repaired: dict[str, int] = field(
        default_factory=lambda: {"missing": 0, "stale": 0, "deleted": 0}
    )
    applied: Applied | None = None
    import_id: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def clean(self) -> bool:
        return not (self.missing or self.stale or self.deleted)

    def summary(self) -> str:
        if self.clean:
            return f"{self.table}: reconciled, no difference ({self.source_rows} rows)"
        found = ", ".join(
            f"{n} {kind} ({self.repaired[kind]} repaired)"
            for kind, n in (
                ("missing", self.missing),
                ("stale", self.stale),
                ("deleted", self.deleted),
            )
            if n
        )
        return f"{self.table}: reconciliation found {found}"


@dataclass(frozen=True)
class Range:
    """``lo <= lead < hi`` on the first key column (``None``: unbounded)."""

    lo: Any = None
    hi: Any = None


def reconcile(sync: TableSync, *, today: str) -> Report:
    """Compare one table with the source, repair what differs, and record the report."""
    report = Report(table=sync.name, dataset=sync.ref.qualified)
    current = open_history(sync.project.tables, sync.project.layout.table_uri(sync.ref))
    if current is None:  # never synced: nothing to compare with yet
        return report
    con = connect(sync.project)
    try:
        latest = latest_relation(con, current, "rec")
        keys = ", ".join(q(k) for k in sync.spec.key)
        con.execute(
            f"CREATE TEMP VIEW platform_latest AS SELECT {keys}, {q(ROW_HASH)} FROM ({latest})"
        )
        base, _, _ = relations(con, current, "rec_keys")
        compare = _Comparer(sync, con, report)
        leaves = compare.narrow(
            estimate=current.base_rows + current.recent_rows,
            sample_from=f"(SELECT {q(sync.spec.key[0])} FROM {base})",
        )
        diff = compare.leaves(leaves)
    finally:
        con.close()
    missing, stale, deleted = diff
    report.missing, report.stale, report.deleted = len(missing), len(stale), len(deleted)
    if not report.clean:
        report.applied = _repair(sync, report, missing, stale, deleted, today=today)
    _record(sync, report)
    state = sync.state()
    state.reconciled_at = datetime.now(UTC).isoformat()
    sync.save(state)
    return report


class _Comparer:
    """Range-by-range comparison of one table between the source and the platform."""

    def __init__(self, sync: TableSync, con: duckdb.DuckDBPyConnection, report: Report) -> None:
        self.sync = sync
        self.db = sync.db
        self.con = con
        self.report = report
        self.lead = sync.spec.key[0]
        self.leaf_rows = sync.config.reconcile_leaf_rows
        self.table = sync.table
        self.hash = self.db.row_hash(self.table)
        self._gathered = False

    # -- narrowing ---------------------------------------------------------------------
    def narrow(self, *, estimate: int, sample_from: str) -> list[Range]:
        """The smallest ranges whose contents differ, found by splitting from the whole.

        Each range is split into as many parts as it takes to get ranges of about
        ``leaf_rows`` rows (bounded by what one query of the source's dialect can do), so a
        PostgreSQL table of millions of rows is compared in one pass.
        """
        leaves: list[Range] = []
        todo = [(Range(), estimate)]
        top = True
        while todo:
            whole, size = todo.pop()
            parts = max(2, min(self.db.max_buckets, -(-size // self.leaf_rows)))
            # the first split samples the stored keys, so the source's query can start
            # before the platform's latest rows are gathered
            bounds = self._bounds(whole, parts, sample_from if top else "platform")
            if not bounds and not top:
                leaves.append(whole)  # one lead value (or none) on the platform here
                continue
            ranges = _split(whole, bounds)
            # the source database and DuckDB work at the same time
            with ThreadPoolExecutor(max_workers=1) as pool:
                asked = pool.submit(self._source_buckets, whole, bounds)
                platform = self._platform_buckets(whole, bounds)
                source = asked.result()
            self.report.ranges_compared += len(ranges)
            if top:
                self.report.source_rows = sum(c for c, _ in source.values())
                self.report.platform_rows = sum(c for c, _ in platform.values())
                top = False
            for i, part in enumerate(ranges):
                ours, theirs = platform.get(i, (0, 0)), source.get(i, (0, 0))
                if ours == theirs:
                    continue
                biggest = max(ours[0], theirs[0])
                if biggest <= self.leaf_rows or len(ranges) == 1:
                    leaves.append(part)
                else:
                    todo.append((part, biggest))
        return leaves

    def _bounds(self, whole: Range, parts: int, relation: str) -> list[Any]:
        """Up to ``parts - 1`` boundaries inside ``whole`` splitting the platform's keys into
        ranges of about equal size (quantiles of a seeded sample: exact ones cost a sort)."""
        where = self._duck_where(whole)
        sample = parts * 16
        values = [
            r[0]
            for r in self.con.sql(
                f"SELECT {q(self.lead)} FROM (SELECT {q(self.lead)} FROM {relation}{where} "
                f"USING SAMPLE reservoir({sample} ROWS) REPEATABLE (7)) ORDER BY 1"
            ).fetchall()
        ]
        found = sorted(
            {values[len(values) * i // parts] for i in range(1, parts)} if values else ()
        )
        return [v for v in found if v is not None and (whole.lo is None or v > whole.lo)]

    def _duck_where(self, part: Range) -> str:
        lead = q(self.lead)
        terms = []
        if part.lo is not None:
            terms.append(f"{lead} >= {sql_literal(part.lo)}")
        if part.hi is not None:
            terms.append(f"{lead} < {sql_literal(part.hi)}")
        return " WHERE " + " AND ".join(terms) if terms else ""

    def _source_where(self, part: Range) -> Any:
        import sqlalchemy as sa

        column = self.table.c[self.lead]
        terms = []
        if part.lo is not None:
            terms.append(column >= part.lo)
        if part.hi is not None:
            terms.append(column < part.hi)
        return sa.and_(*terms) if terms else None

    def _source_buckets(self, whole: Range, bounds: Sequence[Any]) -> dict[int, tuple[int, int]]:
        """(count, sum of row hashes) per range, computed by the source database."""
        import sqlalchemy as sa

        bucket = self.db.bucket(self.table.c[self.lead], bounds)
        inner = sa.select(bucket.label("b"), sa.literal_column(self.hash).label("h")).select_from(
            self.table
        )
        where = self._source_where(whole)
        if where is not None:
            inner = inner.where(where)
        sub = inner.subquery("x")
        query = sa.select(sub.c.b, sa.func.count(), sa.func.sum(sub.c.h)).group_by(sub.c.b)
        rows = self.db.fetchall(
            self.db.render(query), f"comparing {self.sync.source_table}", aggregate=True
        )
        return {int(b): (int(n), int(s or 0)) for b, n, s in rows}

    def _platform_buckets(self, whole: Range, bounds: Sequence[Any]) -> dict[int, tuple[int, int]]:
        """The same over the platform's latest rows (an as-of join finds each row's range)."""
        import pyarrow as pa

        if not self._gathered:
            self.con.execute("CREATE TEMP TABLE platform AS SELECT * FROM platform_latest")
            self._gathered = True
        lead = q(self.lead)
        rows = f"SELECT {lead}, {q(ROW_HASH)} FROM platform{self._duck_where(whole)}"
        if bounds:
            self.con.register(
                "bounds", pa.table({"bound": bounds, "i": list(range(1, len(bounds) + 1))})
            )
            query = (
                f"SELECT coalesce(bd.i, 0) AS b, count(*), sum(p.{q(ROW_HASH)}) FROM ({rows}) AS p "
                f"ASOF LEFT JOIN bounds AS bd ON p.{lead} >= bd.bound GROUP BY ALL"
            )
        else:
            query = f"SELECT 0 AS b, count(*), sum({q(ROW_HASH)}) FROM ({rows})"
        found = self.con.sql(query).fetchall()
        return {int(b): (int(n), int(s or 0)) for b, n, s in found if n}

    # -- key by key ----------------------------------------------------------------------
    def leaves(self, leaves: list[Range]) -> tuple[list[tuple[Any, ...]], ...]:
        """(missing, stale, deleted) keys of the differing ranges."""
        import pyarrow as pa
        import sqlalchemy as sa

        if not leaves:
            return [], [], []
        key_cols = [self.table.c[k] for k in self.sync.spec.key]
        batches: list[pa.RecordBatch] = []
        for chunk in _chunks(leaves, RANGES_PER_QUERY):
            query = sa.select(*key_cols, sa.literal_column(self.hash).label(ROW_HASH)).select_from(
                self.table
            )
            wheres = [self._source_where(part) for part in chunk]
            if all(w is not None for w in wheres):
                query = query.where(sa.or_(*wheres))
            batches += self.db.stream(
                self.db.render(query),
                self.table,
                batch_rows=self.sync.config.batch_rows,
                doing=f"comparing keys of {self.sync.source_table}",
            )
        keys = ", ".join(q(k) for k in self.sync.spec.key)
        names = [*self.sync.spec.key, ROW_HASH]
        if batches:
            source = pa.Table.from_batches(batches).select(names)
        else:
            source = self.con.sql(
                f"SELECT {keys}, {q(ROW_HASH)} FROM platform LIMIT 0"
            ).to_arrow_table()
        self.report.keys_compared += source.num_rows
        self.con.register("source_keys", source)
        ranges = " OR ".join(
            "(" + (self._duck_where(p).removeprefix(" WHERE ") or "true") + ")" for p in leaves
        )
        self.con.execute(f"CREATE TEMP VIEW platform_keys AS SELECT * FROM platform WHERE {ranges}")
        missing = self._keys(
            f"SELECT {keys} FROM source_keys ANTI JOIN platform_keys USING ({keys})"
        )
        stale = self._keys(
            f"SELECT {keys} FROM source_keys AS s JOIN platform_keys AS p USING ({keys}) "
            f"WHERE s.{q(ROW_HASH)} IS DISTINCT FROM p.{q(ROW_HASH)}"
        )
        gone = self._keys(f"SELECT {keys} FROM platform_keys ANTI JOIN source_keys USING ({keys})")
        # a key may sort into another range at the source (collations differ): look it up
        still_there = set(self._lookup(gone)) if gone else set()
        deleted = [k for k in gone if k not in still_there]
        stale += [k for k in gone if k in still_there]
        return missing, stale, deleted

    def _keys(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.con.sql(sql).fetchall()]

    def _lookup(self, keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        import sqlalchemy as sa

        key_cols = [self.table.c[k] for k in self.sync.spec.key]
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(keys, KEY_CHUNK):
            query = sa.select(*key_cols).where(_key_filter(key_cols, chunk))
            found += self.db.fetchall(self.db.render(query), "looking up deleted keys")
        return [tuple(r) for r in found]


def _repair(
    sync: TableSync,
    report: Report,
    missing: list[tuple[Any, ...]],
    stale: list[tuple[Any, ...]],
    deleted: list[tuple[Any, ...]],
    *,
    today: str,
) -> Applied:
    """Read the missing and stale rows by key, keep them in landing, apply them with tombstones."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import_id = new_import_id()
    observed = datetime.now(UTC).isoformat()
    report.import_id = import_id
    rows_path = sync.landing_path(today, import_id, "repair")
    key_cols = [sync.table.c[k] for k in sync.spec.key]
    select = sync.select_sql(sync.columns)

    def batches() -> Iterable[pa.RecordBatch]:
        for chunk in _chunks(missing + stale, KEY_CHUNK):
            where = sync.db.render(_key_filter(key_cols, chunk))
            yield from sync.db.stream(
                f"{select} WHERE {where}",
                sync.table,
                batch_rows=sync.config.batch_rows,
                doing=f"reading rows of {sync.source_table} to repair",
            )

    rows, _ = write_batches(rows_path, iter(batches()), cursor=None)
    report.rows_fetched = rows
    deleted_paths = []
    if deleted:
        path = sync.landing_path(today, import_id, "deleted")
        columns = list(zip(*deleted, strict=True))
        pq.write_table(
            pa.table({k: list(v) for k, v in zip(sync.spec.key, columns, strict=True)}), path
        )
        deleted_paths.append(str(path))
    state = sync.state()
    state.pending = Pending(
        import_id=import_id,
        kind="repair",
        rows=[str(rows_path)] if rows else [],
        deleted=deleted_paths,
        rows_read=rows,
        observed=observed,
    )
    sync.save(state)
    fetched: set[tuple[Any, ...]] = set()
    if rows:
        keys = pq.read_table(rows_path, columns=list(sync.spec.key)).to_pylist()
        fetched = {tuple(r[k] for k in sync.spec.key) for r in keys}
    applied = sync.finish(state)
    report.repaired["missing"] = sum(k in fetched for k in missing)
    report.repaired["stale"] = sum(k in fetched for k in stale)
    report.repaired["deleted"] = applied.deletes
    return applied


def _key_filter(key_cols: Sequence[Any], keys: Sequence[tuple[Any, ...]]) -> Any:
    import sqlalchemy as sa

    if len(key_cols) == 1:
        return key_cols[0].in_([k[0] for k in keys])
    return sa.or_(*(sa.and_(*(c == v for c, v in zip(key_cols, k, strict=True))) for k in keys))


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _split(whole: Range, bounds: Sequence[Any]) -> list[Range]:
    edges = [whole.lo, *bounds, whole.hi]
    return [Range(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def _record(sync: TableSync, report: Report) -> None:
    sync.project.store.record_reconciliation(
        source=sync.node,
        dataset=report.dataset,
        import_id=report.import_id,
        started_at=report.started_at,
        ended_at=datetime.now(UTC),
        source_rows=report.source_rows,
        platform_rows=report.platform_rows,
        ranges_compared=report.ranges_compared,
        rows_fetched=report.rows_fetched,
        missing_found=report.missing,
        missing_repaired=report.repaired["missing"],
        stale_found=report.stale,
        stale_repaired=report.repaired["stale"],
        deleted_found=report.deleted,
        deleted_repaired=report.repaired["deleted"],
    )
