"""One day's increment into a keyed table: civiclake's history engine against full snapshots.

An applications-like table (47 columns: ints, doubles, dates, timestamps,
booleans, short and long strings) gets one day's increment — 20% brand-new
keys, the rest updates, a few deletes (``ceased = true``) — in two
distributions: *skewed* (90% of updates on the newest 10% of keys, the rest
uniform) and *uniform* (over all keys). Making latest + history + as-of
available after the increment is measured, on the same data in the same run,
three ways:

* **civiclake**: ``apply_increment`` (append to ``recent``, compaction when
  ``recent`` passes ``compact_ratio`` × ``base``) + a session with the views
  registered; 30 days, so compaction is amortised over the days it serves;
* **(a) reference**: latest-per-key of the increment, left-anti join with
  yesterday's full snapshot, union, write the full new snapshot (DuckDB,
  Parquet), as the reference platform did;
* **(b) MERGE**: latest-per-key of the increment, then a delta-rs MERGE into
  one latest Delta table (``streamed_exec=False``, update all / insert all).

(a) and (b) keep deletes as rows with ``ceased = true`` (the reference
platform never removed them); civiclake's latest drops them. Each step runs in
its own subprocess (peak memory is its peak RSS, VmHWM); bytes written are the
sizes of files the step added. (a) and (b) apply increments 1-3, interleaved
with civiclake's days 1, 11 and 21, so drift in the shared machine's speed
hits all methods alike. Scans compare a GROUP BY over the latest view with the
same query over a plain Parquet copy of the same rows (paired, interleaved),
after day 1 and on the day before the first compaction (most rows in recent).

    .venv/bin/python bench/snapshot.py              # 1M and 10M rows (15-25 min)
    .venv/bin/python bench/snapshot.py --rows 1000000
    .venv/bin/python bench/snapshot.py --quick      # 200k rows, ~2 min

Data is generated once (deterministic, hash-based; ~3 min for 10M rows) under
``bench/.data/``. civiclake's sources are copied at the start and every step
imports the copy, so a working tree that changes during the run cannot mix
versions; the commit measured is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "snapshot"
WORK = HERE / ".data" / "snapshot-work"
SOURCES = WORK / "src"
DAY1 = "2026-03-01"
"""Day 1's increment carries ``last_updated`` on this day; the full load is before it."""
NEW_SHARE = 5
"""One increment row in NEW_SHARE is a brand-new key."""
DELETE_ONE_IN = 200
"""One update in DELETE_ONE_IN ceases its key."""
THREADS, MEMORY = 2, "4GB"
"""DuckDB settings for every method (civiclake's defaults)."""
RATIO = float(os.environ.get("CIVICLAKE_BENCH_COMPACT_RATIO", "0.25"))
"""``compact_ratio`` of the history spec (``--compact-ratio``; children read it from the
environment)."""
AS_OF_CHECK_ROWS = 2_000_000
"""Check as-of counts after day 1 up to this size (a window over every version)."""
SCAN_REPEAT = 3
SCAN_QUERY = """
SELECT ward_id, application_stage, decision_type,
       count(*) AS applications, count(*) FILTER (WHERE is_major) AS major,
       sum(number_of_units) AS units, sum(estimated_cost) AS cost,
       avg(net_floor_area_sqm) AS mean_floor_area,
       avg(decision_issued_date - valid_date) AS mean_days_to_decision
FROM {table}
GROUP BY ALL
"""


# -- data ---------------------------------------------------------------------------
def _row_sql(source: str, n: int) -> str:
    """Applications rows from ``source`` (``id``, ``v`` = 0 or the day, ``last_updated``,
    ``ceased``): columns fixed per key come from ``hash(id, ...)``, the rest change with
    ``v``. ``n`` (the initial row count) spreads submit dates over ten years."""
    streets = "['High Street', 'Mare Street', 'Church Road', 'Victoria Park Road', "
    streets += "'Kingsland Road', 'Stoke Newington Road', 'Well Street', 'Amhurst Road']"
    first = "['Amina', 'John', 'Priya', 'Tom', 'Grace', 'Mohammed', 'Olga', 'Kwame', 'Sarah']"
    last = "['Smith', 'Okafor', 'Patel', 'Nowak', 'Brown', 'Khan', 'Murphy', 'Adeyemi']"
    work = "['Single storey rear extension', 'Two storey side extension', 'Loft conversion "
    work += "with rear dormer', 'Change of use from office (Class E) to residential (C3)', "
    work += "'Installation of replacement windows', 'Erection of a five storey building', "
    work += "'Demolition of existing garage and erection of a dwelling', 'Roof terrace']"
    extra = "['', ' and associated landscaping', ' with cycle storage and refuse enclosure', "
    extra += "' including alterations to the front boundary wall', ' (amended plans)']"
    stages = "['Received', 'Validated', 'Consultation', 'Assessment', 'Committee', 'Decided']"
    notes = "['Site visit booked', 'Awaiting consultee response from highways', "
    notes += "'Amended drawings requested from agent', 'Neighbour objections logged', "
    notes += "'Report drafted for sign-off', 'Heritage officer comments received']"
    return f"""
    WITH s AS (
      SELECT id, v, last_updated, ceased,
             least(CAST(last_updated AS DATE),
                   DATE '2016-01-01' + CAST(id * 3600 // {n} AS INTEGER)) AS submit_date,
             CAST(hash(id, 'stage', v) % 6 AS INTEGER) AS stage_no
      FROM {source}
    ), r AS (
      SELECT *,
             submit_date + CAST(hash(id, 'rcv') % 5 AS INTEGER) AS received_date,
             submit_date + CAST(5 + hash(id, 'val') % 20 AS INTEGER) AS valid_date,
             CAST(hash(id, 'road') % 300 + 1 AS VARCHAR) || ' '
               || pick({streets}, hash(id, 'st')) || ', London' AS site_address
      FROM s
    )
    SELECT
      id,
      CAST(hash(id, 'cu') % 400 AS INTEGER) AS creation_user_id,
      CAST(hash(id, 'lub', v) % 400 AS INTEGER) AS last_updated_by,
      last_updated,
      submit_date,
      CASE WHEN ceased THEN CAST(last_updated AS DATE) END AS ceased_date,
      ceased,
      CAST(year(submit_date) AS VARCHAR) || '/' || lpad(CAST(id % 100000 AS VARCHAR), 5, '0')
        || '/' || pick(['FUL', 'HSE', 'LBC', 'COU', 'ADV', 'TPO'], hash(id, 'ty'))
        AS application_reference_number,
      CAST(hash(id, 'ty') % 6 + 1 AS INTEGER) AS application_type_id,
      CAST(hash(id, 'ward') % 21 + 1 AS INTEGER) AS ward_id,
      CAST(hash(id, 'off', v // 7) % 60 + 1 AS INTEGER) AS officer_id,
      CAST(hash(id, 'dtf') % 2000000 AS BIGINT) AS dtf_location_id,
      pick({work}, hash(id, 'w')) || pick({extra}, hash(id, 'x'))
        || ' at ' || site_address AS proposal,
      {stages}[1 + stage_no] AS application_stage,
      pick(['Householder', 'Minor', 'Major', 'Other'], hash(id, 'dev')) AS development_type,
      CASE WHEN stage_no = 5 THEN pick(['Granted', 'Refused', 'Withdrawn',
        'Granted with conditions'], hash(id, 'dec', v)) END AS decision_type,
      ['Delegated', 'Committee'][1 + CAST(hash(id, 'lvl') % 10 = 0 AS INTEGER)] AS decision_level,
      received_date,
      valid_date,
      valid_date + 2 AS registration_date,
      valid_date + 56 AS target_decision_date,
      valid_date + 23 AS consultation_end_date,
      CASE WHEN stage_no = 5 THEN valid_date + CAST(30 + hash(id, 'dd', v) % 90 AS INTEGER)
        END AS decision_issued_date,
      CASE WHEN stage_no = 5 THEN valid_date + 1125 END AS expiry_date,
      CASE WHEN hash(id, 'eot', v) % 8 = 0 THEN valid_date + 84 END AS extension_of_time_due_date,
      site_address,
      'E' || CAST(hash(id, 'pc') % 20 + 1 AS VARCHAR) || ' '
        || CAST(hash(id, 'pd') % 9 + 1 AS VARCHAR)
        || chr(CAST(65 + hash(id, 'pe') % 26 AS INTEGER))
        || chr(CAST(65 + hash(id, 'pf') % 26 AS INTEGER)) AS site_postcode,
      530000 + (hash(id, 'x') % 1000000) / 100.0 AS site_address_x,
      180000 + (hash(id, 'y') % 1000000) / 100.0 AS site_address_y,
      CAST(100000000000 + hash(id, 'uprn') % 900000000 AS BIGINT) AS uprn,
      CAST(hash(id, 'units', v // 10) % 40 AS INTEGER) AS number_of_units,
      round((hash(id, 'area', v // 10) % 500000) / 100.0, 2) AS net_floor_area_sqm,
      round((hash(id, 'cost', v // 5) % 200000000) / 10.0, 2) AS estimated_cost,
      CAST(hash(id, 'com') % 30 + v AS INTEGER) AS number_of_public_comments,
      hash(id, 'maj') % 12 = 0 AS is_major,
      hash(id, 'fee') % 20 = 0 AS fee_exempt,
      hash(id, 'ppa', v) % 15 = 0 AS ppa_agreed,
      hash(id, 'eot', v) % 8 = 0 AS extension_of_time_agreed,
      hash(id, 'eia') % 50 = 0 AS requires_eia,
      hash(id, 'lb') % 25 = 0 AS listed_building,
      hash(id, 'ca') % 6 = 0 AS conservation_area,
      hash(id, 'app', v) % 40 = 0 AS appeal_lodged,
      pick({first}, hash(id, 'fn')) || ' ' || pick({last}, hash(id, 'ln')) AS applicant_name,
      pick(['Private individual', 'Company', 'Housing association', 'Public body'],
        hash(id, 'at')) AS applicant_type,
      CASE WHEN hash(id, 'ag') % 3 > 0 THEN pick(['Studio North', 'Urban Plan Ltd',
        'Hackney Design', 'Greenfield Architects'], hash(id, 'agc')) END AS agent_company,
      CASE WHEN hash(id, 'ag') % 3 > 0 THEN 'agent' || CAST(hash(id, 'agc') % 900 AS VARCHAR)
        || '@example.org' END AS agent_email,
      pick({notes}, hash(id, 'n1', v)) || '; ' || pick({notes}, hash(id, 'n2', v))
        || ' (officer ' || CAST(hash(id, 'off', v // 7) % 60 + 1 AS VARCHAR) || ')' AS case_notes
    FROM r
    """


def _connect(temp: Path | None = None) -> Any:
    import duckdb

    config: dict[str, Any] = {"threads": THREADS, "memory_limit": MEMORY}
    if temp is not None:
        temp.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(temp)
    con = duckdb.connect(config=config)
    con.execute("CREATE MACRO pick(options, h) AS options[1 + CAST(h % len(options) AS BIGINT)]")
    return con


def base_file(n: int) -> Path:
    """The initial full snapshot: ids 0..n-1, updated before day 1 (newer ids more recently)."""
    path = DATA / f"base_{n}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    con = _connect(DATA / "tmp")
    span = 86_400_000_000 * 3712  # 2016-01-01 .. 2026-03-01, in microseconds
    source = (
        f"(SELECT i AS id, 0 AS v, make_timestamp(epoch_us(TIMESTAMP '2016-01-01') "
        f"+ CAST(i * ({span} // {n}) AS BIGINT)) AS last_updated, "
        f"hash(i, 'bc') % 500 = 0 AS ceased FROM range({n}) t(i))"
    )
    partial = path.with_suffix(".part")
    con.execute(f"COPY ({_row_sql(source, n)} ORDER BY id) TO '{partial}' (FORMAT parquet)")
    con.close()
    partial.rename(path)
    return path


def increment_files(n: int, m: int, dist: str, days: int) -> list[Path]:
    """Day d's increment: ``m`` rows, last_updated on day d in import order; one row in
    NEW_SHARE is a new key, the rest update existing keys (skewed: 90% of them among the
    newest 10% of keys); one update in DELETE_ONE_IN ceases its key."""
    DATA.mkdir(parents=True, exist_ok=True)
    paths = [DATA / f"inc_{n}_{m}_{dist}_d{d:02d}.parquet" for d in range(1, days + 1)]
    if all(p.exists() for p in paths):
        return paths
    con = _connect(DATA / "tmp")
    new_per_day = (m + NEW_SHARE - 1) // NEW_SHARE
    step = 86_400_000_000 // m
    for d, path in enumerate(paths, start=1):
        if path.exists():
            continue
        known = n + (d - 1) * new_per_day  # ids below this exist before day d
        low = known - known // 10
        pick = f"hash({d}, j, 'pick')"
        if dist == "skewed":
            old = (
                f"CASE WHEN hash({d}, j, 'skew') % 10 < 9 "
                f"THEN {low} + {pick} % {known - low} ELSE {pick} % {known} END"
            )
        else:
            old = f"{pick} % {known}"
        source = f"""(
          SELECT CAST(CASE WHEN j % {NEW_SHARE} = 0 THEN {known} + j // {NEW_SHARE}
                      ELSE {old} END AS BIGINT) AS id,
                 {d} AS v,
                 make_timestamp(epoch_us(TIMESTAMP '{DAY1}') + {(d - 1) * 86_400_000_000}
                                + j * {step}) AS last_updated,
                 j % {NEW_SHARE} <> 0 AND hash({d}, j, 'del') % {DELETE_ONE_IN} = 0 AS ceased
          FROM range({m}) t(j))"""
        partial = path.with_suffix(".part")
        # last_updated grows with j: ordering by it keeps the import order
        con.execute(
            f"COPY ({_row_sql(source, n)} ORDER BY last_updated) TO '{partial}' (FORMAT parquet)"
        )
        partial.rename(path)
    con.close()
    return paths


# -- measured steps (each in its own subprocess) ------------------------------------------
def _sizes(root: Path) -> dict[str, int]:
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            p = os.path.join(folder, name)
            with suppress(FileNotFoundError):
                found[p] = os.path.getsize(p)
    return found


def _written(before: dict[str, int], after: dict[str, int]) -> int:
    """Bytes in files added, and growth of files that were there."""
    return sum(size - before.get(p, 0) for p, size in after.items() if size > before.get(p, 0))


def _reader(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    return pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=122_880))


def _project(project_dir: Path) -> Any:
    from civiclake import Project

    project = Project.load(project_dir)
    project.store.migrate()  # a runner has the store open before any step starts
    return project


def _spec() -> Any:
    from civiclake import HistorySpec

    return HistorySpec(key=("id",), version="last_updated", deleted="ceased", compact_ratio=RATIO)


def _ref() -> Any:
    from civiclake.storage import DatasetRef

    return DatasetRef("planning", "refined", "applications")


@contextmanager
def _timed_internals(into: dict[str, float]) -> Iterator[None]:
    """Add up the time spent in the engine's steps (cumulative: nested calls count in both)."""
    from civiclake.snapshots import apply, compact
    from civiclake.storage.delta import TableStore

    targets: list[tuple[Any, str]] = [
        (apply, "_stage"),
        (apply, "_reject_unusable"),
        (apply, "_reconcile_types"),
        (apply, "_drop_redeliveries"),
        (apply, "_write"),
        (compact, "_write"),
        (apply, "open_history"),
        (apply, "_maybe_compact"),
        (apply, "register"),
        (TableStore, "write"),
        (TableStore, "commit_files"),
        (TableStore, "replace_partitions"),
        (TableStore, "vacuum"),
        (TableStore, "committed_version"),
    ]
    saved = []

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                into[name] = into.get(name, 0.0) + time.perf_counter() - start

        return timed

    for owner, attr in targets:
        fn = getattr(owner, attr, None)
        if fn is None:  # the engine changed; time what is there
            continue
        saved.append((owner, attr, fn))
        setattr(owner, attr, wrap(attr, fn))
    try:
        yield
    finally:
        for owner, attr, fn in saved:
            setattr(owner, attr, fn)


def step_init_civiclake(base: str, project_dir: str) -> dict[str, Any]:
    """The initial full load into a new project (not part of the daily cost), streamed."""
    import deltalake  # noqa: F401 - imported before timing, as the others import duckdb
    import duckdb  # noqa: F401

    from civiclake import apply_increment, init_project

    init_project(Path(project_dir), departments=["planning"])
    project = _project(Path(project_dir))
    parts: dict[str, float] = {}
    with _timed_internals(parts):
        start = time.perf_counter()
        result = apply_increment(
            project.catalog,
            _ref(),
            _reader(Path(base)),
            _spec(),
            app_id="day0",
            import_id="i0",
            producer="b",
        )
    import civiclake

    return {
        "seconds": time.perf_counter() - start,
        "versions": result.versions,
        "parts": parts,
        "source": civiclake.__file__,
    }


def step_civiclake_day(project_dir: str, inc: str, day: int) -> dict[str, Any]:
    """Apply day ``day``'s increment, then open a session with latest/history/as-of views.

    The increment is read into an Arrow table inside the clock, as (a) and (b) read it:
    sources (e.g. the planning API) hand ``apply_increment`` an in-memory table.
    """
    import deltalake  # noqa: F401
    import duckdb  # noqa: F401
    import pyarrow.parquet as pq

    from civiclake import apply_increment
    from civiclake.snapshots import open_history

    project = _project(Path(project_dir))
    ref = _ref()
    uri = project.layout.table_uri(ref)
    before = _sizes(Path(uri))
    parts: dict[str, float] = {}
    with _timed_internals(parts):
        start = time.perf_counter()
        result = apply_increment(
            project.catalog,
            ref,
            pq.read_table(inc),
            _spec(),
            app_id=f"day{day}",
            import_id=f"i{day}",
            producer="bench",
        )
        applied = time.perf_counter()
        session = project.engine().session()
        session.register([ref])
        done = time.perf_counter()
    session.close()
    after = _sizes(Path(uri))
    table = open_history(project.tables, uri)
    assert table is not None and not result.already_applied
    return {
        "seconds": done - start,
        "apply": applied - start,
        "views": done - applied,
        "compact": parts.get("_maybe_compact", 0.0),
        "compacted": result.compacted,
        "parts": parts,
        "versions": result.versions,
        "written": _written(before, after),
        "table_bytes": sum(after.values()),
        # what the table holds once the replaced files are vacuumed (they are kept for
        # storage.keep_replaced_files_hours, 1 h, and a 30-day run takes minutes)
        "live_bytes": sum(f.size for f in table.everything)
        + sum(v for p, v in after.items() if "_delta_log" in p),
        "base_rows": table.base_rows,
        "recent_rows": table.recent_rows,
        "recent_files": len(table.recent),
        "archive_rows": sum(f.rows for f in table.archive),
        "recent_is_newer": table.recent_is_newer(),
    }


def step_reference_day(prev: str, inc: str, out: str) -> dict[str, Any]:
    """(a): latest-per-key of the increment, anti join yesterday's snapshot, union, rewrite."""
    con = _connect(Path(out).parent / "tmp")
    start = time.perf_counter()
    con.execute(
        f"""
        COPY (
          WITH inc AS (
            SELECT * FROM read_parquet('{inc}')
            QUALIFY row_number() OVER (PARTITION BY id ORDER BY last_updated DESC) = 1
          )
          SELECT * FROM inc
          UNION ALL
          SELECT s.* FROM read_parquet('{prev}') AS s ANTI JOIN inc USING (id)
        ) TO '{out}' (FORMAT parquet)
        """
    )
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "written": os.path.getsize(out)}


def step_init_merge(base: str, table_dir: str) -> dict[str, Any]:
    """The latest Delta table for (b), from the initial snapshot (not part of the daily cost)."""
    from deltalake import write_deltalake

    start = time.perf_counter()
    write_deltalake(table_dir, _reader(Path(base)))
    return {"seconds": time.perf_counter() - start}


def step_merge_day(table_dir: str, inc: str) -> dict[str, Any]:
    """(b): latest-per-key of the increment, then a delta-rs MERGE into the latest table."""
    from deltalake import DeltaTable

    con = _connect(Path(table_dir).parent / "tmp")
    before = _sizes(Path(table_dir))
    start = time.perf_counter()
    source = con.sql(
        f"SELECT * FROM read_parquet('{inc}') "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY last_updated DESC) = 1"
    ).to_arrow_table()
    metrics = (
        DeltaTable(table_dir)
        .merge(
            source,
            predicate="t.id = s.id",
            source_alias="s",
            target_alias="t",
            streamed_exec=False,
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    seconds = time.perf_counter() - start
    after = _sizes(Path(table_dir))
    keep = ("num_target_rows_copied", "num_target_rows_updated", "num_target_rows_inserted")
    keep += ("num_target_files_added", "num_target_files_removed", "num_target_files_scanned")
    return {
        "seconds": seconds,
        "written": _written(before, after),
        "metrics": {k: metrics.get(k) for k in keep},
    }


def step_scan(project_dir: str, work: str, check: str | None, base: str | None) -> dict[str, Any]:
    """Paired scans: the GROUP BY on civiclake's latest view and on a plain Parquet copy."""
    project = _project(Path(project_dir))
    session = project.engine().session()
    session.register([_ref()])
    latest = "planning_refined.applications"
    plain_path = Path(work) / "plain.parquet"
    session.con.execute(f"COPY (SELECT * FROM {latest}) TO '{plain_path}' (FORMAT parquet)")
    plain = _connect()
    out: dict[str, Any] = {}
    if check:  # the same rows as the reference method's snapshot (deletes removed)?
        # (as-of over the whole history is a window over every version: slow at 10M rows)
        digest = "SELECT count(*), sum(hash(id, last_updated, case_notes)) FROM {t}"
        ours = session.con.sql(digest.format(t=latest)).fetchall()
        theirs = plain.sql(digest.format(t=f"read_parquet('{check}') WHERE NOT ceased")).fetchall()
        out["check"] = {"latest_matches_reference": ours == theirs}
        if base:
            as_of = session.con.sql(
                f"SELECT count(*) FROM planning_refined.applications_as_of(DATE '{DAY1}') "
            ).fetchall()
            before = session.con.sql(
                "SELECT count(*) FROM planning_refined.applications_as_of(DATE '2026-02-28')"
            ).fetchall()
            expected = plain.sql(f"SELECT count(*) FROM read_parquet('{base}') WHERE NOT ceased")
            out["check"]["as_of_day1_matches"] = as_of[0][0] == ours[0][0]
            out["check"]["as_of_day0_matches_base"] = before == expected.fetchall()
    query_ours = SCAN_QUERY.format(table=latest)
    query_plain = SCAN_QUERY.format(table=f"read_parquet('{plain_path}')")

    def run(con_sql: Callable[[str], Any], query: str) -> float:
        start = time.perf_counter()
        con_sql(query)
        return time.perf_counter() - start

    def ours_sql(query: str) -> Any:
        return session.sql(query).read_all()

    def plain_sql(query: str) -> Any:
        return plain.sql(query).to_arrow_reader(batch_size=122_880).read_all()

    a, b = ours_sql(query_ours), plain_sql(query_plain)  # warm both; same answer?
    out["same_answer"] = a.num_rows == b.num_rows
    out["plain"], out["civiclake"] = [], []
    for _ in range(SCAN_REPEAT):
        out["plain"].append(run(plain_sql, query_plain))
        out["civiclake"].append(run(ours_sql, query_ours))
    session.close()
    plain_path.unlink()
    return out


def step_generate(n: int, m: int, dist: str, days: int) -> dict[str, Any]:
    return {
        "base": str(base_file(n)),
        "increments": [str(p) for p in increment_files(n, m, dist, days)],
    }


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "generate": step_generate,
    "init_civiclake": step_init_civiclake,
    "civiclake_day": step_civiclake_day,
    "reference_day": step_reference_day,
    "init_merge": step_init_merge,
    "merge_day": step_merge_day,
    "scan": step_scan,
}


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, it does not carry the RSS of
    the parent the process was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(payload: str) -> None:
    call = json.loads(payload)
    out = STEPS[call["step"]](**call["args"])
    out["peak_mb"] = _peak_mb()
    print(json.dumps(out))


def measure(step: str, **args: Any) -> dict[str, Any]:
    os.sync()  # earlier steps' write-back must not land on this step's clock
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({"step": step, "args": args})],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SOURCES)},
    )
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"step {step} failed ({args})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the run ------------------------------------------------------------------------------
def engine_digest(src: Path) -> str:
    """A digest of the history engine, storage and DuckDB engine sources under ``src``."""
    import hashlib

    digest = hashlib.sha256()
    for folder in ("snapshots", "history", "storage", "engines"):
        for path in sorted((src / folder).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _git_head() -> str:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", "-C", str(HERE.parent), *cmd], capture_output=True, text=True)
        return done.stdout.strip()

    head = git("log", "-1", "--format=%h %cd", "--date=iso")
    dirty = git("status", "--porcelain", "--", "src/civiclake")
    return head + (" + uncommitted changes in src/civiclake" if dirty else "")


def snapshot_sources() -> None:
    """Copy civiclake's sources so every step measures the same code, even if the working
    tree changes during the run (steps import from the copy: PYTHONPATH comes first)."""
    shutil.copytree(
        HERE.parent / "src" / "civiclake",
        SOURCES / "civiclake",
        ignore=shutil.ignore_patterns("__pycache__"),
    )


def _log(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def initial_states(n: int) -> dict[str, Any]:
    """A civiclake project after the full load and a latest Delta table for (b), per size."""
    root = WORK / f"initial_{n}"
    _log(f"{n:,} rows: generating the initial snapshot (cached)")
    base = Path(measure("generate", n=n, m=n // 100, dist="uniform", days=0)["base"])
    project = root / "council"
    merge = root / "merge" / "latest"
    merge.parent.mkdir(parents=True)
    _log(f"{n:,} rows: initial load into civiclake")
    init = measure("init_civiclake", base=str(base), project_dir=str(project))
    if not str(init["source"]).startswith(str(SOURCES)):
        raise SystemExit(f"steps import civiclake from {init['source']}, not the snapshot")
    _log(f"  {init['seconds']:.1f} s, peak {init['peak_mb']:.0f} MB; latest Delta table for (b)")
    init_merge = measure("init_merge", base=str(base), table_dir=str(merge))
    return {
        "base": base,
        "project": project,
        "merge": merge,
        "init_seconds": init["seconds"],
        "init_parts": init["parts"],
        "init_peak_mb": init["peak_mb"],
        "init_table_bytes": sum(_sizes(project / "data").values()),
        "merge_init_seconds": init_merge["seconds"],
    }


def run_config(
    n: int, m: int, dist: str, days: int, baseline_days: int, state: dict[str, Any]
) -> dict[str, Any]:
    made = measure("generate", n=n, m=m, dist=dist, days=days)
    incs = [Path(p) for p in made["increments"]]
    work = WORK / f"{n}_{m}_{dist}"
    project = work / "council"
    merge = work / "merge" / "latest"
    ref_dir = work / "reference"
    ref_dir.mkdir(parents=True)
    shutil.copytree(state["project"], project)
    shutil.copytree(state["merge"], merge)
    every = max(1, days // baseline_days)
    baseline_at = {1 + k * every: k + 1 for k in range(baseline_days)}
    ours: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] = []
    merges: list[dict[str, Any]] = []
    scans: dict[str, Any] = {}
    prev = state["base"]
    for day in range(1, days + 1):
        r = measure("civiclake_day", project_dir=str(project), inc=str(incs[day - 1]), day=day)
        r["day"] = day
        ours.append(r)
        note = f" (compaction {r['compact']:.1f} s)" if r["compacted"] else ""
        _log(
            f"  day {day}: {r['seconds']:.2f} s{note}, peak {r['peak_mb']:.0f} MB, "
            f"recent {r['recent_rows']:,} / base {r['base_rows']:,}"
        )
        if day in baseline_at:
            k = baseline_at[day]
            out = ref_dir / f"snapshot_{k}.parquet"
            a = measure("reference_day", prev=str(prev), inc=str(incs[k - 1]), out=str(out))
            b = measure("merge_day", table_dir=str(merge), inc=str(incs[k - 1]))
            _log(f"    (a) day {k}: {a['seconds']:.2f} s   (b) day {k}: {b['seconds']:.2f} s")
            reference.append(a)
            merges.append(b)
            if prev != state["base"]:
                Path(prev).unlink()
            prev = out
        if day == 1:
            assert 1 in baseline_at
            scans["day1"] = measure(
                "scan",
                project_dir=str(project),
                work=str(work),
                check=str(ref_dir / "snapshot_1.parquet"),
                base=str(state["base"]) if n <= AS_OF_CHECK_ROWS else None,
            )
            scans["day1"].update(day=1, recent_rows=r["recent_rows"], base_rows=r["base_rows"])
            _log(f"    scan day 1: {scans['day1']}")
        next_compacts = r["recent_rows"] + m > RATIO * r["base_rows"] or r["recent_files"] >= 60
        if "worst" not in scans and (next_compacts or day == days) and day > 1:
            scans["worst"] = measure(
                "scan", project_dir=str(project), work=str(work), check=None, base=None
            )
            scans["worst"].update(day=day, recent_rows=r["recent_rows"], base_rows=r["base_rows"])
            _log(f"    scan day {day} (before a compaction): {scans['worst']}")
    final = _sizes(project / "data")
    result = {
        "rows": n,
        "increment": m,
        "dist": dist,
        "days": days,
        "civiclake": ours,
        "reference": reference,
        "merge": merges,
        "scans": scans,
        "table_bytes": sum(final.values()),
        "live_bytes": ours[-1].get("live_bytes", sum(final.values())),
        "snapshot_bytes": reference[0]["written"],
        "increments_bytes": sum(p.stat().st_size for p in incs),
        "base_bytes": Path(state["base"]).stat().st_size,
    }
    shutil.rmtree(work)
    return result


def configs(sizes: list[int]) -> list[tuple[int, int]]:
    """(rows, increment): 1% of each size, and the largest size's 1% on the smaller ones."""
    largest = max(sizes) // 100
    found = []
    for n in sorted(sizes):
        found.append((n, n // 100))
        if n // 100 != largest:
            found.append((n, largest))
    return found


# -- report -------------------------------------------------------------------------------
def summarise(res: dict[str, Any]) -> dict[str, Any]:
    days = res["civiclake"]
    quiet = [d for d in days if not d["compacted"]]
    compactions = [d for d in days if d["compacted"]]
    mean = statistics.fmean(d["seconds"] for d in days)
    ref = _median([d["seconds"] for d in res["reference"]])
    merge = _median([d["seconds"] for d in res["merge"]])
    return {
        "median_quiet": _median([d["seconds"] for d in quiet]),
        "mean": mean,
        "reference": ref,
        "merge": merge,
        "ref_ratio": ref / mean,
        "merge_ratio": merge / mean,
        "peak_quiet": _median([d["peak_mb"] for d in quiet]),
        "peak_max": max(d["peak_mb"] for d in days),
        "written_quiet": _median([d["written"] for d in quiet]),
        "written_mean": statistics.fmean(d["written"] for d in days),
        "ref_peak": max(d["peak_mb"] for d in res["reference"]),
        "merge_peak": max(d["peak_mb"] for d in res["merge"]),
        "ref_written": _median([d["written"] for d in res["reference"]]),
        "merge_written": _median([d["written"] for d in res["merge"]]),
        "compactions": [(d["day"], d["compact"], d["peak_mb"]) for d in compactions],
        "views": _median([d["views"] for d in days]),
    }


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def report(results: list[dict[str, Any]], states: dict[int, dict[str, Any]], args: Any) -> str:
    lines: list[str] = []
    out = lines.append
    out(
        f"Days: {args.days} for civiclake, {args.baseline_days} for (a) and (b) (median); "
        f"DuckDB threads {THREADS}, memory_limit {MEMORY}; compact_ratio {RATIO}.\n"
    )
    out(
        "| rows | increment | distribution | civiclake median quiet day (s) | civiclake mean "
        "of all days (s) | (a) full rewrite (s) | (b) MERGE (s) | (a) / civiclake | "
        "(b) / civiclake | peak MB civiclake quiet / max | peak MB (a) / (b) | "
        "written MB/day civiclake quiet / mean | written MB/day (a) / (b) |"
    )
    out("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    sums = {}
    for res in results:
        s = summarise(res)
        sums[(res["rows"], res["increment"], res["dist"])] = s
        out(
            f"| {res['rows']:,} | {res['increment']:,} | {res['dist']} | {s['median_quiet']:.2f} "
            f"| **{s['mean']:.2f}** | {s['reference']:.2f} | {s['merge']:.2f} "
            f"| **{s['ref_ratio']:.1f}×** | **{s['merge_ratio']:.1f}×** "
            f"| {s['peak_quiet']:.0f} / {s['peak_max']:.0f} "
            f"| {s['ref_peak']:.0f} / {s['merge_peak']:.0f} "
            f"| {_mb(s['written_quiet'])} / {_mb(s['written_mean'])} "
            f"| {_mb(s['ref_written'])} / {_mb(s['merge_written'])} |"
        )
    out("\nCompactions (inside the day's apply; included in the mean):\n")
    out("| rows | increment | distribution | days compacted | compaction (s) | peak MB |")
    out("|---:|---:|---|---|---|---|")
    for res in results:
        s = sums[(res["rows"], res["increment"], res["dist"])]
        c = s["compactions"]
        out(
            f"| {res['rows']:,} | {res['increment']:,} | {res['dist']} "
            f"| {', '.join(str(d) for d, _, _ in c) or '—'} "
            f"| {', '.join(f'{t:.1f}' for _, t, _ in c) or '—'} "
            f"| {', '.join(f'{p:.0f}' for _, _, p in c) or '—'} |"
        )
    out("\nMERGE (b) metrics per day (rows copied unchanged / updated / inserted):\n")
    for res in results:
        ms = [d["metrics"] for d in res["merge"]]
        text = "; ".join(
            f"{x['num_target_rows_copied']:,} / {x['num_target_rows_updated']:,} / "
            f"{x['num_target_rows_inserted']:,}"
            for x in ms
        )
        out(f"- {res['rows']:,} rows, {res['increment']:,}/day, {res['dist']}: {text}")
    sizes = sorted({r["rows"] for r in results})
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        out(f"\nScaling, time({large:,}) / time({small:,}) on the mean day:\n")
        out(
            "| distribution | increment at small | increment at large | small (s) | large (s) "
            "| ratio |"
        )
        out("|---|---:|---:|---:|---:|---:|")
        for dist in args.dists:
            big = sums.get((large, large // 100, dist))
            for m in (small // 100, large // 100):
                little = sums.get((small, m, dist))
                if big and little:
                    out(
                        f"| {dist} | {m:,} | {large // 100:,} | {little['mean']:.2f} "
                        f"| {big['mean']:.2f} | **{big['mean'] / little['mean']:.2f}** |"
                    )
    out(f"\nStorage after {args.days} days:\n")
    out(
        "| rows | increment | distribution | civiclake table (MB; on disk before the "
        "vacuum of replaced files) | one snapshot + "
        f"{args.days} increments (MB) | ratio | {args.days} daily snapshots (MB, "
        f"{args.days} × one) | ratio |"
    )
    out("|---:|---:|---|---:|---:|---:|---:|---:|")
    for res in results:
        floor = res["snapshot_bytes"] + res["increments_bytes"]
        daily = args.days * res["snapshot_bytes"]
        live = res.get("live_bytes", res["table_bytes"])
        out(
            f"| {res['rows']:,} | {res['increment']:,} | {res['dist']} "
            f"| {_mb(live)} ({_mb(res['table_bytes'])}) | {_mb(floor)} | **{live / floor:.2f}×** "
            f"| {_mb(daily)} | {daily / floor:.1f}× |"
        )
    out("\nScanning the latest table (GROUP BY query), against a plain Parquet copy of it:\n")
    out(
        "| rows | increment | distribution | when | recent / base rows | plain (s) "
        "| civiclake (s) | paired ratios | ratio |"
    )
    out("|---:|---:|---|---|---:|---:|---:|---|---:|")
    for res in results:
        for label, scan in sorted(res["scans"].items()):
            pairs = sorted(c / p for p, c in zip(scan["plain"], scan["civiclake"], strict=True))
            when = "after day 1" if label == "day1" else f"day {scan['day']}, before compaction"
            out(
                f"| {res['rows']:,} | {res['increment']:,} | {res['dist']} | {when} "
                f"| {scan['recent_rows']:,} / {scan['base_rows']:,} "
                f"| {_median(scan['plain']):.3f} | {_median(scan['civiclake']):.3f} "
                f"| {', '.join(f'{x:.2f}' for x in pairs)} | **{_median(pairs):.2f}×** |"
            )
    checks = [(r, r["scans"]["day1"].get("check", {})) for r in results]
    bad = [(r["rows"], r["increment"], r["dist"], c) for r, c in checks if not all(c.values())]
    out(
        "\nChecks after day 1 (latest = (a)'s snapshot without ceased rows; up to "
        f"{AS_OF_CHECK_ROWS:,} rows also as-of day 0 = the initial snapshot and as-of day 1 = "
        f"latest): {bad or 'all passed'}"
    )
    one_pass = sum(d.get("recent_is_newer", False) for r in results for d in r["civiclake"])
    total = sum(len(r["civiclake"]) for r in results)
    out(
        f"\nThe latest view took its one-pass path (file statistics show recent newer than base) "
        f"after {one_pass} of {total} days."
    )
    out("\nInitial full loads (not in the daily cost):\n")
    for n, st in sorted(states.items()):
        out(
            f"- {n:,} rows: civiclake {st['init_seconds']:.1f} s (peak "
            f"{st['init_peak_mb']:.0f} MB, table {_mb(st['init_table_bytes'])} MB); "
            f"Delta table for (b) {st['merge_init_seconds']:.1f} s; "
            f"initial snapshot Parquet {_mb(st['base'].stat().st_size)} MB"
        )
        top = sorted(st["init_parts"].items(), key=lambda kv: -kv[1])[:5]
        out(f"  - civiclake's steps (cumulative): {', '.join(f'{k} {v:.1f} s' for k, v in top)}")
    big = max(results, key=lambda r: (r["rows"], r["increment"]))
    out(
        f"\nWhere civiclake's time goes ({big['rows']:,} rows, {big['increment']:,}/day, "
        "median over quiet days of both distributions; cumulative, nested calls count twice):\n"
    )
    quiet = [
        d
        for r in results
        if (r["rows"], r["increment"]) == (big["rows"], big["increment"])
        for d in r["civiclake"]
        if not d["compacted"]
    ]
    names = sorted({k for d in quiet for k in d["parts"]})
    rows = [("apply_increment (total)", _median([d["apply"] for d in quiet]))]
    rows += [(k, _median([d["parts"].get(k, 0.0) for d in quiet])) for k in names]
    rows.append(("session + register views", _median([d["views"] for d in quiet])))
    out("| step | seconds |")
    out("|---|---:|")
    for name, sec in rows:
        out(f"| {name} | {sec:.3f} |")
    return "\n".join(lines)


def goals(results: list[dict[str, Any]], args: Any) -> str:
    sums = {(r["rows"], r["increment"], r["dist"]): summarise(r) for r in results}
    large = max(r["rows"] for r in results)
    small = min(r["rows"] for r in results)
    lines = []
    for dist in args.dists:
        s = sums.get((large, large // 100, dist))
        if s is None:
            continue
        lines.append(
            f"- {large:,} rows, {dist}: time (a) / civiclake = {s['ref_ratio']:.1f}× "
            f"({'met' if s['ref_ratio'] >= 12 else 'MISSED'}, goal ≥ 12×); "
            f"time (b) / civiclake = {s['merge_ratio']:.1f}× "
            f"({'met' if s['merge_ratio'] > 1 else 'MISSED'}, goal > 1×)"
        )
        if small != large:
            for m in (large // 100, small // 100):
                little = sums.get((small, m, dist))
                if little:
                    ratio = s["mean"] / little["mean"]
                    lines.append(
                        f"- {dist}: time({large:,}) / time({small:,}) with {m:,} rows/day at "
                        f"{small:,}: {ratio:.2f} ({'met' if ratio <= 2 else 'MISSED'}, goal ≤ 2)"
                    )
    for r in results:
        floor = r["snapshot_bytes"] + r["increments_bytes"]
        ratio = r.get("live_bytes", r["table_bytes"]) / floor
        lines.append(
            f"- storage {r['rows']:,}/{r['increment']:,}/{r['dist']}: {ratio:.2f}× "
            f"({'met' if ratio <= 1.3 else 'MISSED'}, goal ≤ 1.3×)"
        )
        for label, scan in sorted(r["scans"].items()):
            pairs = [c / p for p, c in zip(scan["plain"], scan["civiclake"], strict=True)]
            ratio = _median(pairs)
            lines.append(
                f"- scan {r['rows']:,}/{r['increment']:,}/{r['dist']} {label}: {ratio:.2f}× "
                f"({'met' if ratio <= 1.3 else 'MISSED'}, goal ≤ 1.3×)"
            )
    return "\n".join(lines)


def main() -> None:
    global RATIO
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--baseline-days", type=int, default=3)
    parser.add_argument("--dists", nargs="+", default=["skewed", "uniform"])
    parser.add_argument("--quick", action="store_true", help="200k rows, 2 baseline days")
    parser.add_argument("--compact-ratio", type=float, default=RATIO)
    parser.add_argument("--report", type=Path, help="print the report of a saved results file")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    if args.report:
        saved = json.loads(args.report.read_text())
        kept = argparse.Namespace(**saved["args"])
        states = {int(n): st for n, st in saved["states"].items()}
        print(f"civiclake measured at {saved['head']} (engine sources {saved['engine']})")
        print(
            f"\n{report(saved['results'], states, kept)}\n\nGoals:\n{goals(saved['results'], kept)}"
        )
        return
    os.environ["CIVICLAKE_BENCH_COMPACT_RATIO"] = str(args.compact_ratio)
    RATIO = args.compact_ratio
    if args.quick:
        args.rows, args.baseline_days = [200_000], 2
    started = time.perf_counter()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    snapshot_sources()
    digest, head = engine_digest(SOURCES / "civiclake"), _git_head()
    _log(f"measuring civiclake at {head} (engine sources {digest})")
    results: list[dict[str, Any]] = []
    states: dict[int, dict[str, Any]] = {}
    for n, m in configs(args.rows):
        for dist in args.dists:
            if n not in states:
                states[n] = initial_states(n)
            _log(f"{n:,} rows, {m:,}/day, {dist}")
            results.append(run_config(n, m, dist, args.days, args.baseline_days, states[n]))
    shutil.rmtree(WORK, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    saved = DATA / f"results_{stamp}.json"
    saved.write_text(
        json.dumps(
            {
                "args": vars(args),
                "engine": digest,
                "head": head,
                "results": results,
                "states": states,
            },
            default=str,
        )
    )
    print(f"civiclake measured at {head} (engine sources {digest})")
    print(f"\n{report(results, states, args)}\n\nGoals:\n{goals(results, args)}")
    print(f"\nRun took {minutes:.1f} min; raw results in {saved.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
