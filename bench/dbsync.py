"""A 15-minute database sync at 5M rows: civiclake's incremental cycle and reconciliation
against a full re-extract of the table each cycle, on the same PostgreSQL server in one run.

A ``work_orders`` table (13 columns, like the repairs simulator's) of ``--rows`` rows is
created in PostgreSQL (the project's throwaway server: ``scripts/services/postgres.sh``).
civiclake loads it once; then each cycle changes 0.5% of the rows (bumping ``updated_at``),
plus a few changes an incremental sync cannot see (50 updates that do not bump
``updated_at``, 10 hard deletes), and measures, each step in its own subprocess:

* **incremental**: civiclake's sync of the cycle (overlap 30 min, no reconciliation);
* **reconcile (differences)**: civiclake's reconciliation right after it, which must find and
  repair the 60 hidden changes;
* **reconcile (clean)**: the same again, nothing left to find — it must read no full row;
* **full re-extract** (the baseline): every row read from the source and written as the new
  snapshot (connectorx → Arrow → a Delta table overwritten), as a nightly full copy does.

Rows read from the source are counted per step (full rows; reconciliation also reads keys
and hashes of the ranges that differ, counted apart). Peak memory is each step's VmHWM.

    .venv/bin/python bench/dbsync.py                 # 5,000,000 rows, 3 cycles (~10 min)
    .venv/bin/python bench/dbsync.py --rows 500000 --cycles 2
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
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".data" / "dbsync"
DATABASE = "civiclake_bench_dbsync"
SLOW_START = datetime(2026, 11, 2, 8, 0)


def server_url() -> str:
    url = os.environ.get("CIVICLAKE_TEST_POSTGRES_URL")
    if url:
        return url
    done = subprocess.run(
        [str(ROOT / "scripts" / "services" / "postgres.sh"), "start"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def db_url(server: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + DATABASE


# -- steps (each in its own subprocess) ----------------------------------------------------
def step_setup(server: str, rows: int) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(db_url(server), autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE TABLE work_orders AS
            SELECT g::bigint AS work_order_id,
                   lpad((g % 150000)::text, 8, '0') AS property_ref,
                   (g % 600)::int AS operative_id,
                   (ARRAY['plumbing','electrical','carpentry','roofing','gas'])[1 + g % 5]
                       AS trade,
                   (ARRAY['emergency','urgent','normal','planned'])[1 + g % 4] AS priority,
                   (ARRAY['raised','assigned','in_progress','completed'])[1 + g % 4] AS status,
                   'Repair ' || md5(g::text) AS description,
                   TIMESTAMP '{SLOW_START}' - (g % 9000) * INTERVAL '1 hour' AS raised_at,
                   (DATE '2026-12-01' + (g % 90))::date AS target_date,
                   NULL::timestamp AS completed_at,
                   ((g % 90000) / 100.0)::numeric(10,2) AS cost,
                   'app-1'::text AS updated_by,
                   TIMESTAMP '{SLOW_START}' - (g % 9000) * INTERVAL '1 hour' AS updated_at
            FROM generate_series(1, {rows}) AS g
            """
        )
        conn.execute("ALTER TABLE work_orders ADD PRIMARY KEY (work_order_id)")
        conn.execute("CREATE INDEX ON work_orders (updated_at)")
        conn.execute("VACUUM ANALYZE work_orders")
    return {"rows": rows}


def step_change(server: str, cycle: int) -> dict[str, Any]:
    """0.5% of rows changed with updated_at bumped; 50 silent updates; 10 hard deletes."""
    import psycopg

    at = f"TIMESTAMP '{SLOW_START}' + INTERVAL '{15 * cycle} minutes'"
    with psycopg.connect(db_url(server), autocommit=True) as conn:
        changed = conn.execute(
            f"UPDATE work_orders SET status = 'on_hold', operative_id = operative_id + 1, "
            f"updated_at = {at} - (work_order_id % 900) * INTERVAL '1 second' "
            f"WHERE (work_order_id * 7919 + {cycle} * 104729) % 200 = 0"
        ).rowcount
        silent = conn.execute(
            "UPDATE work_orders SET status = 'cancelled' WHERE work_order_id IN ("
            f"SELECT work_order_id FROM work_orders WHERE status <> 'cancelled' "
            f"AND (work_order_id * 31 + {cycle}) % 1000 = 7 LIMIT 50)"
        ).rowcount
        deleted = conn.execute(
            "DELETE FROM work_orders WHERE work_order_id IN (SELECT work_order_id FROM "
            f"work_orders WHERE (work_order_id * 17 + {cycle}) % 1000 = 3 LIMIT 10)"
        ).rowcount
    return {"changed": changed, "silent": silent, "deleted": deleted}


def _warm() -> None:
    """Import what every step uses before its clock starts (a scheduler's process is warm)."""
    import connectorx  # noqa: F401
    import deltalake  # noqa: F401
    import duckdb  # noqa: F401
    import psycopg  # noqa: F401
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401
    import sqlalchemy  # noqa: F401


def _project(project_dir: str, server: str) -> Any:
    import yaml

    from civiclake import Project, init_project

    directory = Path(project_dir)
    if not directory.exists():
        init_project(directory, departments=["repairs"])
        config = {
            "type": "database",
            "url": db_url(server),
            "tables": {"work_orders": {"key": ["work_order_id"]}},
            "reconcile_every_minutes": 10**6,
            "batch_rows": 100_000,
        }
        (directory / "sources" / "repairs" / "drs.yaml").write_text(yaml.safe_dump(config))
    return Project.load(directory)


def _sync(project: Any) -> Any:
    from civiclake.ingest import load_sources

    [node] = load_sources(project)
    return node.syncs(None)["work_orders"]


def step_civiclake_sync(project_dir: str, server: str) -> dict[str, Any]:
    project = _project(project_dir, server)
    table = _sync(project)
    _warm()
    started = time.perf_counter()
    applied = table.sync(today="2026-11-02")
    seconds = time.perf_counter() - started
    table.db.close()
    return {
        "seconds": seconds,
        "rows_read": sum(a.rows_read for a in applied),
        "versions": sum(a.versions for a in applied),
        "kind": applied[-1].kind,
    }


def step_civiclake_reconcile(project_dir: str, server: str) -> dict[str, Any]:
    from civiclake.ingest.database.reconcile import reconcile

    project = _project(project_dir, server)
    table = _sync(project)
    _warm()
    started = time.perf_counter()
    report = reconcile(table, today="2026-11-02")
    seconds = time.perf_counter() - started
    table.db.close()
    return {
        "seconds": seconds,
        "rows_read": report.rows_fetched,
        "keys_compared": report.keys_compared,
        "ranges": report.ranges_compared,
        "found": {"missing": report.missing, "stale": report.stale, "deleted": report.deleted},
        "repaired": report.repaired,
    }


def step_full_extract(server: str, out: str) -> dict[str, Any]:
    """The baseline: read the whole table and write it as the new snapshot."""
    import connectorx as cx
    import pyarrow as pa
    from deltalake import write_deltalake

    started = time.perf_counter()
    reader = cx.read_sql(
        db_url(server), "SELECT * FROM work_orders", return_type="arrow_stream", batch_size=100_000
    )
    rows = 0

    def counted() -> Any:
        nonlocal rows
        for batch in reader:
            rows += batch.num_rows
            yield batch

    stream = pa.RecordBatchReader.from_batches(reader.schema, counted())
    write_deltalake(out, stream, mode="overwrite")
    return {"seconds": time.perf_counter() - started, "rows_read": rows}


# -- harness -------------------------------------------------------------------------------
def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(payload: str) -> None:
    spec = json.loads(payload)
    result = globals()[f"step_{spec['step']}"](**spec["args"])
    result["peak_mb"] = round(_peak_mb())
    print(json.dumps(result, default=str))


def measure(step: str, **args: Any) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({"step": step, "args": args})],
        capture_output=True,
        text=True,
        env={**os.environ, "RUST_BACKTRACE": "0"},
    )
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        _child(opts.child)
        return
    server = server_url()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    project_dir = str(WORK / "council")
    began = time.perf_counter()
    print(f"setting up {opts.rows:,} rows in PostgreSQL…", flush=True)
    measure("setup", server=server, rows=opts.rows)
    first = measure("civiclake_sync", project_dir=project_dir, server=server)
    print(f"first load: {first}", flush=True)
    cycles = []
    for cycle in range(1, opts.cycles + 1):
        change = measure("change", server=server, cycle=cycle)
        inc = measure("civiclake_sync", project_dir=project_dir, server=server)
        rec = measure("civiclake_reconcile", project_dir=project_dir, server=server)
        clean = measure("civiclake_reconcile", project_dir=project_dir, server=server)
        full = measure("full_extract", server=server, out=str(WORK / "snapshot"))
        row = {"change": change, "incremental": inc, "reconcile": rec, "clean": clean, "full": full}
        cycles.append(row)
        print(f"cycle {cycle}: {json.dumps(row)}", flush=True)
    report(opts, first, cycles, time.perf_counter() - began)


def report(opts: Any, first: dict[str, Any], cycles: list[dict[str, Any]], took: float) -> None:
    def med(kind: str, field: str = "seconds") -> float:
        return statistics.median(c[kind][field] for c in cycles)

    full = med("full")
    lines = [
        f"### {opts.rows:,} rows, {opts.cycles} cycles (medians)",
        "",
        "| step | seconds | × full re-extract | full rows read | keys+hashes read | peak MB |",
        "|---|---|---|---|---|---|",
        f"| first load (civiclake) | {first['seconds']:.2f} | {first['seconds'] / full:.2f} | "
        f"{first['rows_read']:,} | - | {first['peak_mb']} |",
    ]
    for kind, label in (
        ("incremental", "incremental cycle"),
        ("reconcile", "reconciliation, 60 hidden changes"),
        ("clean", "reconciliation, nothing differs"),
        ("full", "full re-extract (baseline)"),
    ):
        keys = med(kind, "keys_compared") if kind in ("reconcile", "clean") else None
        lines.append(
            f"| {label} | {med(kind):.2f} | {med(kind) / full:.3f} | "
            f"{int(med(kind, 'rows_read')):,} | {'-' if keys is None else f'{int(keys):,}'} | "
            f"{int(med(kind, 'peak_mb'))} |"
        )
    found = cycles[-1]["reconcile"]["found"]
    repaired = cycles[-1]["reconcile"]["repaired"]
    inc, rec = med("incremental") / full, med("reconcile") / full
    lines += [
        "",
        f"Last cycle's reconciliation found {found} and repaired {repaired}.",
        "",
        f"- incremental cycle / full re-extract = {inc:.3f} "
        f"({'met' if inc <= 0.05 else 'MISSED'}, goal ≤ 0.05)",
        f"- reconciliation / full re-extract = {rec:.3f} "
        f"({'met' if rec <= 0.25 else 'MISSED'}, goal ≤ 0.25)",
        f"- clean reconciliation read {int(med('clean', 'rows_read'))} full rows "
        f"({'met' if med('clean', 'rows_read') == 0 else 'MISSED'}, goal 0)",
        "",
        f"Run took {took / 60:.1f} min.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
