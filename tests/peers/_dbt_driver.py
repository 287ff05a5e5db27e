"""Run scenarios through dbt's own snapshots on DuckDB; print what dbt kept, as JSON.

This file runs in the peer environment (``<venv>-peers``: dbt-core, dbt-duckdb), never in
civiclake's: it imports nothing of civiclake or of the tests, so dbt's pins never meet ours.
It reads a JSON list of scenarios (``tests/peers/scenarios.py``, as plain data) on stdin and
writes one result per scenario to the file named by its argument (dbt logs to stdout)::

    {"name": ..., "states": [<source table before run i>, ...],
     "windows": [[start, end], ...],            # each `dbt snapshot`'s wall-clock interval (UTC)
     "history": {"columns": [[name, type], ...], "rows": [[...], ...]}}

Each scenario gets a fresh dbt project and DuckDB file: the source table ``src`` is made by
the scenario's ``create`` statements; ``dbt snapshot`` runs once, then once after each step's
statements (an empty step re-runs with nothing changed). ``TZ=UTC`` is set by the caller, so
dbt's snapshot time (``now()::timestamp``) and the windows share one clock.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from dbt.cli.main import dbtRunner


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _table(db: Path, sql: str) -> dict[str, Any]:
    with duckdb.connect(str(db)) as con:
        cur = con.execute(sql)
        columns = [[d[0], str(d[1])] for d in cur.description]
        rows = [[_jsonable(v) for v in row] for row in cur.fetchall()]
    return {"columns": columns, "rows": rows}


def _snapshot_sql(s: dict[str, Any]) -> str:
    options = {
        "target_schema": "snapshots",
        "unique_key": s["key"] if len(s["key"]) > 1 else s["key"][0],
        "strategy": s["strategy"],
        "hard_deletes": s["hard_deletes"],
    }
    if s["strategy"] == "timestamp":
        options["updated_at"] = s["updated_at"]
    else:
        options["check_cols"] = s["check_cols"]
    config = ", ".join(f"{k}={json.dumps(v)}" for k, v in options.items())
    return (
        "{% snapshot history %}\n"
        f"{{{{ config({config}) }}}}\n"
        "select * from main.src\n"
        "{% endsnapshot %}\n"
    )


def run_scenario(s: dict[str, Any], root: Path) -> dict[str, Any]:
    project = root / s["name"]
    (project / "snapshots").mkdir(parents=True)
    db = project / "peer.duckdb"
    (project / "dbt_project.yml").write_text(
        "name: peer\nversion: '1.0'\nprofile: peer\nconfig-version: 2\n"
        "flags: {send_anonymous_usage_stats: false}\n"
    )
    (project / "profiles.yml").write_text(
        f"peer:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {json.dumps(str(db))}\n      threads: 1\n"
    )
    (project / "snapshots" / "history.sql").write_text(_snapshot_sql(s))
    with duckdb.connect(str(db)) as con:
        for statement in s["create"]:
            con.execute(statement)
    order = ", ".join(s["key"])
    runner = dbtRunner()
    states: list[dict[str, Any]] = []
    windows: list[list[str]] = []
    for step in [[], *s["steps"]]:
        if step:
            with duckdb.connect(str(db)) as con:
                for statement in step:
                    con.execute(statement)
        states.append(_table(db, f"select * from main.src order by {order}"))
        started = datetime.now(UTC).replace(tzinfo=None)
        result = runner.invoke(
            [
                "--quiet",
                "snapshot",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
            ]
        )
        ended = datetime.now(UTC).replace(tzinfo=None)
        if not result.success:
            raise SystemExit(f"dbt snapshot failed in scenario {s['name']}: {result.exception}")
        windows.append([started.isoformat(), ended.isoformat()])
    history = _table(
        db, f"select * from snapshots.history order by {order}, dbt_valid_from, dbt_valid_to"
    )
    return {"name": s["name"], "states": states, "windows": windows, "history": history}


def main() -> None:
    scenarios = json.load(sys.stdin)
    with tempfile.TemporaryDirectory(prefix="civiclake-peers-") as tmp:
        results = [run_scenario(s, Path(tmp)) for s in scenarios]
    Path(sys.argv[1]).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
