"""Publishing a 10M-row trusted table to PostgreSQL: first load, then a 1% day, against CSV COPY.

The table is keyed (history engine), 12 columns (ints, doubles, dates,
timestamps, booleans, short and long strings); the day's increment is 1% of
the rows: 90% updates spread over all keys, 9% new keys, 1% deletes. In the
same run, on the same server:

* **civiclake first publish**: ``publish()`` of the dataset into an empty
  database — ``x`` with its primary key, ``x__history`` with its indexes,
  GRANTs, masked views, the published marker; once with ``warehouse.history``
  off (``x`` only) and once on;
* **baseline, full reload by CSV COPY** (the usual method): DuckDB writes the
  latest table to a CSV file, ``psql \\copy`` loads it into a new table, then
  the primary key is built (without it a BI tool's lookups scan); timed as the
  sum;
* **civiclake incremental publish** after the 1% day (changed keys found from
  ``_seq``, staged by COPY, ``DELETE … USING`` + ``INSERT`` + ``valid_to`` fix,
  one transaction), against the same baseline reload of the new latest table.

Goals (issue 6): incremental ≥ 20× faster than the full reload; first
publish within 1.5× of CSV COPY.

    .venv/bin/python bench/publish.py                   # 10M rows (~10 min on 2 cores)
    .venv/bin/python bench/publish.py --rows 1000000
    .venv/bin/python bench/publish.py --url postgresql://…  # default: .services/postgres/url

Data and the project live under ``bench/.data/publish/``; every run rebuilds
them. Each database is created and dropped by the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "publish"
DATASET = "housing_trusted.accounts"


def columns_sql(n: int, offset: int = 0, version: int = 0) -> str:
    """Deterministic rows ``offset .. offset + n`` (DuckDB SQL over ``range``)."""
    return f"""
        SELECT i AS id,
               'tenant ' || i AS name,
               (hash(i) % 20)::INTEGER AS ward_id,
               ((hash(i + {version}) % 100000) / 100.0)::DOUBLE AS balance,
               ((hash(i * 7 + {version}) % 5000) / 10.0)::DOUBLE AS rent,
               DATE '2015-01-01' + (hash(i) % 3000)::INTEGER AS started,
               TIMESTAMP '2026-03-01 00:00:00' + INTERVAL ({version}) DAY AS updated,
               (hash(i + {version}) % 3 = 0) AS in_arrears,
               ['flat', 'house', 'maisonette'][1 + (hash(i) % 3)::BIGINT] AS property_type,
               'reference ' || md5(i::VARCHAR) AS reference,
               (hash(i) % 6)::INTEGER AS bedrooms,
               false AS ceased
        FROM range({offset}, {offset + n}) AS t(i)
    """


def build(root: Path, rows: int, url: str) -> Any:
    import duckdb

    from civiclake import Project, apply_increment, init_project

    shutil.rmtree(root, ignore_errors=True)
    path = init_project(root, departments=["housing"])
    with (path / "civiclake.yaml").open("a") as f:
        f.write(
            "warehouse:\n  url: ${CIVICLAKE_BENCH_WAREHOUSE}\n"
            f"  role_prefix: b{uuid.uuid4().hex[:6]}_\n"
        )
    os.environ["CIVICLAKE_BENCH_WAREHOUSE"] = url
    project = Project.load(path)
    con = duckdb.connect()
    reader = con.sql(columns_sql(rows)).to_arrow_reader(batch_size=122_880)
    apply_increment(
        project.catalog,
        project.dataset("housing", "trusted", "accounts"),
        reader,
        spec(),
        app_id="day-0",
        import_id="day-0",
        producer="bench",
        pii=["name"],
    )
    con.close()
    return project


def spec() -> Any:
    from civiclake import HistorySpec

    return HistorySpec(key=("id",), version="updated", deleted="ceased")


def increment(project: Any, rows: int) -> int:
    """1% of the rows: 90% updates over all keys, 9% new keys, 1% deletes."""
    import duckdb

    from civiclake import apply_increment

    size = rows // 100
    updates, new, deletes = size * 90 // 100, size * 9 // 100, size // 100
    step = max(rows // updates, 1)
    con = duckdb.connect()
    sql = (
        f"(SELECT * FROM ({columns_sql(rows, 0, 1)}) WHERE id % {step} = 3 LIMIT {updates}) "
        f"UNION ALL (SELECT * FROM ({columns_sql(new, rows, 1)})) "
        f"UNION ALL (SELECT * REPLACE (true AS ceased) FROM ({columns_sql(rows, 0, 1)}) "
        f"WHERE id % {step} = 5 LIMIT {deletes})"
    )
    reader = con.sql(sql).to_arrow_reader(batch_size=122_880)
    apply_increment(
        project.catalog,
        project.dataset("housing", "trusted", "accounts"),
        reader,
        spec(),
        app_id="day-1",
        import_id="day-1",
        producer="bench",
        pii=["name"],
    )
    con.close()
    return updates + new + deletes


@contextmanager
def database(server: str) -> Iterator[str]:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def civiclake_publish(project: Any, url: str, *, history: bool) -> tuple[float, int, str]:
    from civiclake.publish import publish

    os.environ["CIVICLAKE_BENCH_WAREHOUSE"] = url
    started = time.perf_counter()
    (result,) = publish(project, datasets=[project.parse_dataset(DATASET)], history=history)
    return time.perf_counter() - started, result.rows_written, result.mode


def csv_copy(project: Any, url: str, work: Path) -> dict[str, float]:
    """The usual full reload: latest → CSV (DuckDB), psql \\copy into a new table, then the key."""
    import psycopg

    csv = work / "accounts.csv"
    timings: dict[str, float] = {}
    started = time.perf_counter()
    session = project.engine().session()
    session.register([project.parse_dataset(DATASET)])
    session.con.execute(  # type: ignore[attr-defined]
        f"COPY (SELECT * FROM {DATASET}) TO '{csv}' (HEADER false)"
    )
    session.close()
    timings["export"] = time.perf_counter() - started
    from civiclake.publish.types import pg_type

    schema = _schema(project)
    header = [f'"{f.name}"' for f in schema]
    ddl = ", ".join(f'"{f.name}" {pg_type(f.type, f.name)}' for f in schema)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS accounts")
        conn.execute(f"CREATE TABLE accounts ({ddl})")
    parts = urlsplit(url)
    started = time.perf_counter()
    subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            f"host={parts.hostname} port={parts.port} dbname={parts.path.lstrip('/')} "
            f"user={parts.username}",
            "-c",
            f"\\copy accounts ({', '.join(header)}) FROM '{csv}' (FORMAT csv)",
        ],
        env={**os.environ, "PGPASSWORD": parts.password or ""},
        check=True,
    )
    timings["copy"] = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE accounts ADD PRIMARY KEY (id)")
    timings["key"] = time.perf_counter() - started
    csv.unlink()
    timings["total"] = timings["export"] + timings["copy"] + timings["key"]
    return timings


def _schema(project: Any) -> Any:
    session = project.engine().session()
    session.register([project.parse_dataset(DATASET)])
    schema = session.sql(f"SELECT * FROM {DATASET} LIMIT 0").schema
    session.close()
    return schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--url", default=os.environ.get("CIVICLAKE_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    server = args.url or (HERE.parent / ".services" / "postgres" / "url").read_text().strip()
    DATA.mkdir(parents=True, exist_ok=True)
    log = print
    started = time.perf_counter()
    project = build(DATA / "project", args.rows, server)
    log(f"built {args.rows:,} rows of history in {time.perf_counter() - started:.1f} s")
    out: dict[str, Any] = {}
    with database(server) as url:
        out["first_x"] = civiclake_publish(project, url, history=False)
        log(f"civiclake first publish, x only: {out['first_x'][0]:.1f} s")
    with database(server) as url:
        out["copy_1"] = csv_copy(project, url, DATA)
        log(f"CSV COPY full load: {out['copy_1']}")
    with database(server) as url:
        out["first"] = civiclake_publish(project, url, history=True)
        log(f"civiclake first publish, x + history: {out['first'][0]:.1f} s")
        started = time.perf_counter()
        changed = increment(project, args.rows)
        log(
            f"1% day ({changed:,} rows) applied to history in {time.perf_counter() - started:.1f} s"
        )
        out["incremental"] = civiclake_publish(project, url, history=True)
        log(f"civiclake incremental publish: {out['incremental']}")
    with database(server) as url:
        out["copy_2"] = csv_copy(project, url, DATA)
        log(f"CSV COPY full reload after the day: {out['copy_2']}")
    report(args.rows, changed, out)
    _drop_roles(server, project.config.warehouse.role_prefix)


def report(rows: int, changed: int, out: dict[str, Any]) -> None:
    first_x, first, inc = out["first_x"][0], out["first"][0], out["incremental"][0]
    copy1, copy2 = out["copy_1"]["total"], out["copy_2"]["total"]
    print(f"\n{datetime.now():%Y-%m-%d}, {rows:,} rows, day of {changed:,} rows\n")
    print("| step | civiclake (s) | CSV COPY reload (s) | ratio | goal |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| first publish, `x` only | {first_x:.1f} | {copy1:.1f} | "
        f"{first_x / copy1:.2f}× | ≤ 1.5× |"
    )
    print(
        f"| first publish, `x` + `x__history` | {first:.1f} | {copy1:.1f} | "
        f"{first / copy1:.2f}× | |"
    )
    print(
        f"| 1% day, incremental ({out['incremental'][1]:,} rows written) | {inc:.2f} | "
        f"{copy2:.1f} | {copy2 / inc:.0f}× faster | ≥ 20× |"
    )
    print(f"\nCSV COPY parts (first / after the day): {out['copy_1']} / {out['copy_2']}")


def _drop_roles(server: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        for (role,) in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)
        ).fetchall():
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


if __name__ == "__main__":
    main()
