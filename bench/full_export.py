"""A monthly full export applied to history: civiclake's files source against DuckDB's read.

A council sends its rent accounts every month as one CSV — every tenancy, ~15 columns
(refs, names, addresses, dates, money, bands). Between two months 1% of the tenancies
change (balance, last payment), a few hundred are new and a few hundred are gone. The
source is ``full_export: true``: each file is the whole dataset at the month in its
name, so the engine (``observed`` mode) compares it with the month before, writes a
version for each changed or new key and ends the gone ones.

Three measurements, each in its own subprocess, interleaved so a busy machine slows
them alike (medians of ``--repeat`` runs; the ratio is the median of paired ratios):

* **floor**: ``CREATE TABLE t AS SELECT * FROM read_csv(...)`` of the second month's
  file, DuckDB alone, 2 threads, 4 GB (civiclake's defaults);
* **civiclake**: the files source run on that file (a project from ``init_project``,
  the source YAML written, the first month already applied, the file dropped in the
  landing inbox) — hashing, the landing copy, parsing, finding rejected rows, lineage,
  the comparison with the previous month and the Delta commits;
* **engine**: ``apply_increment`` alone (observed, ``full=True``) of the same file
  already parsed to Arrow, to show how much of the run is the history engine.

Goal (issue 14): civiclake ≤ 1.5× the floor.

    .venv/bin/python bench/full_export.py            # 1M rows, 3 interleaved runs
    .venv/bin/python bench/full_export.py --quick    # 100k rows, a smoke run
    .venv/bin/python bench/full_export.py --profile  # also a cProfile of one civiclake run

The CSVs are generated once (deterministic, hash-based) under ``bench/.data/``.
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
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "full_export"
THREADS, MEMORY = 2, "4GB"
MONTHS = ("2026-10", "2026-11")
CHANGED_ONE_IN = 100
"""One tenancy in CHANGED_ONE_IN has a new balance and last payment the next month."""
TURNOVER_ONE_IN = 3_000
"""One tenancy in TURNOVER_ONE_IN ends between the months; as many new ones start."""

_COLUMNS = """
  'T' || lpad(i::VARCHAR, 8, '0') AS tenancy_ref,
  'P' || lpad((i // 3)::VARCHAR, 7, '0') AS property_ref,
  'Tenant ' || (h(i, 1, 50000)) AS tenant_name,
  (1 + h(i, 2, 400)) || ' ' || ['Mare', 'Well', 'Church', 'Dalston', 'Homerton'][
      1 + h(i, 3, 5)] || ' Street' AS address_line,
  'E' || (1 + h(i, 4, 20)) || ' ' || (h(i, 5, 10)) || 'AB' AS postcode,
  'W' || lpad((1 + h(i, 6, 21))::VARCHAR, 2, '0') AS ward,
  ['secure', 'introductory', 'flexible', 'temporary'][1 + h(i, 7, 4)] AS tenure_type,
  DATE '2000-01-01' + (h(i, 8, 9000))::INT AS start_date,
  round(80 + (h(i, 9, 30000)) / 100.0, 2) AS weekly_rent,
  round(((h(i, 10 + {month}, 400000)) - 100000) / 100.0, 2) AS balance,
  ['none', 'low', 'medium', 'high'][1 + h(i, 20 + {month}, 4)] AS arrears_band,
  DATE '2026-09-01' + (h(i, 30 + {month}, 28))::INT + 30 * {month} AS last_payment_date,
  round((h(i, 40 + {month}, 50000)) / 100.0, 2) AS last_payment_amount,
  ['direct debit', 'standing order', 'card', 'cash', 'housing benefit'][
      1 + h(i, 50 + {month}, 5)] AS payment_method,
  (h(i, 11, 6))::INT AS bedrooms
"""


def export_file(rows: int, month: int) -> Path:
    """Month 0: tenancies 0..rows-1. Month 1: one in CHANGED_ONE_IN changed (their
    payment columns drawn afresh), one in TURNOVER_ONE_IN gone, as many new."""
    path = DATA / f"{rows}" / f"rent_accounts_{MONTHS[month]}.csv"
    if path.exists():
        return path
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    turnover = rows // TURNOVER_ONE_IN
    if month == 0:
        keys = f"SELECT i, 0 AS m FROM range({rows}) t(i)"
    else:
        keys = f"""
            SELECT i, CASE WHEN i % {CHANGED_ONE_IN} = 3 THEN 1 ELSE 0 END AS m
            FROM range({rows}) t(i) WHERE i % {TURNOVER_ONE_IN} <> 7
            UNION ALL SELECT i, 1 FROM range({rows}, {rows + turnover}) t(i)"""
    con = duckdb.connect(config={"threads": THREADS, "memory_limit": MEMORY})
    con.execute("CREATE MACRO h(i, k, n) AS (hash(i, k) % n)::BIGINT")
    partial = path.with_suffix(".part")
    # the payment columns depend on the month only for the rows that change (m = 1)
    cols = _COLUMNS.replace("{month}", "m")
    con.execute(f"COPY (SELECT {cols} FROM ({keys}) ORDER BY i) TO '{partial}' (HEADER)")
    partial.rename(path)
    return path


def _project(work: Path, first: Path) -> Any:
    """A project with the rent accounts source and the first month applied (not timed)."""
    import yaml

    from civiclake import Project, init_project

    project_dir = init_project(work / "council", departments=["housing"])
    config = project_dir / "sources" / "housing" / "rent_accounts.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "type": "files",
        "dataset": "rent_accounts",
        "patterns": ["rent_accounts_{month:%Y-%m}.csv"],
        "key": ["tenancy_ref"],
        "full_export": True,
        "min_file_age_seconds": 0,
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    project = Project.load(project_dir)
    project.store.migrate()  # the runner has the store open before any step starts
    _drop(project, first)
    _run(project)
    return project


def _drop(project: Any, csv: Path) -> None:
    inbox = Path(project.layout.landing_inbox("housing", "rent_accounts"))
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(csv, inbox / csv.name)  # the file arrives in the inbox
    os.sync()  # it arrived earlier: its write-back must not compete with the timed run


def _run(project: Any) -> Any:
    import logging

    from civiclake.ingest import load_sources
    from civiclake.lineage import new_import_id
    from civiclake.steps import RunContext

    (source,) = load_sources(project)
    ctx = RunContext(project, 1, new_import_id(), logging.getLogger("bench"))
    return source.run(ctx)


def floor(rows: int, work: Path) -> dict[str, Any]:
    import duckdb

    csv = export_file(rows, 1)
    con = duckdb.connect(config={"threads": THREADS, "memory_limit": MEMORY})
    start = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')").fetchall()
    seconds = time.perf_counter() - start
    (count,) = con.execute("SELECT count(*) FROM t").fetchone() or (0,)
    return {"seconds": seconds, "rows": count}


def civiclake(rows: int, work: Path, profile: Path | None = None) -> dict[str, Any]:
    import deltalake  # noqa: F401 - imported before timing, as the floor imports duckdb
    import duckdb  # noqa: F401
    import pyarrow  # noqa: F401

    project = _project(work, export_file(rows, 0))
    _drop(project, export_file(rows, 1))
    start = time.perf_counter()
    if profile is not None:
        import cProfile

        with cProfile.Profile() as prof:
            counts = _run(project)
        prof.dump_stats(profile)
    else:
        counts = _run(project)
    seconds = time.perf_counter() - start
    assert counts.rows_in > 0 and counts.rows_rejected == 0, counts
    note = next(n for n in counts.notes if "new or changed" in n)
    return {"seconds": seconds, "rows": counts.rows_in, "note": note}


def engine(rows: int, work: Path) -> dict[str, Any]:
    """``apply_increment`` alone: month 1 parsed to Arrow (not timed) onto month 0."""
    from datetime import datetime

    import duckdb

    from civiclake import HistorySpec, Project, init_project
    from civiclake.snapshots import apply_increment
    from civiclake.storage import DatasetRef

    project = Project.load(init_project(work / "council", departments=["housing"]))
    project.store.migrate()
    ref = DatasetRef("housing", "raw", "rent_accounts")
    spec = HistorySpec(key=("tenancy_ref",), version=None, mode="observed")
    con = duckdb.connect(config={"threads": THREADS, "memory_limit": MEMORY})
    result = None
    for month in (0, 1):
        table = con.sql(f"SELECT * FROM read_csv('{export_file(rows, month)}')").to_arrow_table()
        start = time.perf_counter()
        result = apply_increment(
            project.catalog,
            ref,
            table,
            spec,
            app_id=f"bench:{month}",
            import_id=f"bench-{month}",
            producer="bench",
            observed_at=datetime.fromisoformat(f"{MONTHS[month]}-01"),
            full=True,
        )
        seconds = time.perf_counter() - start
    assert result is not None
    return {"seconds": seconds, "rows": result.rows_in, "versions": result.versions}


def _child(which: str, rows: int, profile: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="civiclake-bench-", dir=DATA) as tmp:
        if which == "civiclake":
            out = civiclake(rows, Path(tmp), Path(profile) if profile else None)
        else:
            out = {"floor": floor, "engine": engine}[which](rows, Path(tmp))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(which: str, rows: int, profile: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", which, "--rows", str(rows)]
    if profile is not None:
        cmd += ["--profile-to", str(profile)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{which} run failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k rows, a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; medians shown")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    parser.add_argument("--child", choices=["floor", "civiclake", "engine"])
    parser.add_argument("--profile-to")
    args = parser.parse_args()
    if args.quick:
        args.rows = 100_000
    DATA.mkdir(parents=True, exist_ok=True)
    if args.child:
        _child(args.child, args.rows, args.profile_to)
        return
    first, second = export_file(args.rows, 0), export_file(args.rows, 1)
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "civiclake": [], "engine": []}
    for _ in range(args.repeat):  # interleaved, so background noise hits all alike
        for which in runs:
            runs[which].append(measure(which, args.rows))
    med = {w: statistics.median(r["seconds"] for r in rs) for w, rs in runs.items()}
    pairs = {
        w: sorted(c["seconds"] / f["seconds"] for f, c in zip(runs["floor"], runs[w], strict=True))
        for w in ("civiclake", "engine")
    }
    ratio = {w: statistics.median(p) for w, p in pairs.items()}
    size_mb = second.stat().st_size / 1e6
    print(
        f"Full export of {args.rows:,} rows × 15 columns ({size_mb:.0f} MB CSV; the month "
        f"before: {first.stat().st_size / 1e6:.0f} MB), {THREADS} DuckDB threads, "
        f"median of {args.repeat} interleaved runs; {runs['civiclake'][0]['note']}\n"
    )
    print("| method | wall time (s) | runs (s) | paired ratio to floor | peak MB |")
    print("|---|---:|---|---:|---:|")
    for name, which in (
        ("DuckDB `CREATE TABLE AS SELECT * FROM read_csv` (floor)", "floor"),
        ("civiclake files source, `full_export: true`", "civiclake"),
        ("of which could be: `apply_increment` alone (Arrow in)", "engine"),
    ):
        secs = ", ".join(f"{r['seconds']:.2f}" for r in runs[which])
        paired = "1" if which == "floor" else ", ".join(f"{p:.2f}" for p in pairs[which])
        peak = max(r["peak_mb"] for r in runs[which])
        shown = "—" if which == "floor" else f"{ratio[which]:.2f}× ({paired})"
        print(f"| {name} | {med[which]:.2f} | {secs} | {shown} | {peak:.0f} |")
    verdict = "met" if ratio["civiclake"] <= 1.5 else "MISSED"
    print(f"\nciviclake / floor: {ratio['civiclake']:.2f}× ({verdict}, goal ≤ 1.5×)")
    if args.profile:
        import pstats

        out = DATA / "profile.out"
        measure("civiclake", args.rows, out)
        pstats.Stats(str(out)).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    main()
