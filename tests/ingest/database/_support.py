"""Helpers for database-source tests: a project syncing the repairs simulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from civiclake import Project, Runner, init_project
from civiclake.simulators.repairs import RepairsSimulator

TABLE_KEYS = {
    "work_orders": ["work_order_id"],
    "appointments": ["work_order_id", "appointment_no"],
    "operatives": ["operative_id"],
    "properties": ["property_ref"],
}


def make_project(root: Path, url: str, **options: Any) -> Project:
    """A project with a ``repairs`` department whose ``drs`` source syncs the simulator."""
    directory = init_project(root / "council", departments=["repairs"])
    tables = options.pop("tables", None) or {name: {"key": key} for name, key in TABLE_KEYS.items()}
    config = {"type": "database", "url": url, "tables": tables, **options}
    (directory / "sources" / "repairs" / "drs.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False)
    )
    return Project.load(directory)


def sync(project: Project, **runner: Any) -> None:
    summary = Runner(project, retries=0, backoff_seconds=0, **runner).run(["repairs/drs"])
    assert summary.ok, [s.error for s in summary.steps]


def query(project: Project, sql: str) -> list[dict[str, Any]]:
    from civiclake.query import run_query

    return run_query(project, sql).read_all().to_pylist()


def platform_rows(project: Project, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    key = TABLE_KEYS[table]
    rows = query(project, f"SELECT * FROM repairs_raw.{table}")
    return {tuple(r[k] for k in key): r for r in rows}


def source_rows(sim: RepairsSimulator, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    key = TABLE_KEYS[table]
    return {tuple(r[k] for k in key): r for r in sim.rows(table)}


def differences(project: Project, sim: RepairsSimulator, table: str) -> dict[str, list[Any]]:
    """Keys missing from, extra on, or different on the platform, comparing every column."""
    ours = platform_rows(project, table)
    theirs = source_rows(sim, table)
    stale = [
        k
        for k in theirs.keys() & ours.keys()
        if any(_same(v, ours[k][c]) is False for c, v in theirs[k].items())
    ]
    return {
        "missing": sorted(theirs.keys() - ours.keys()),
        "extra": sorted(ours.keys() - theirs.keys()),
        "stale": sorted(stale),
    }


def _same(a: Any, b: Any) -> bool:
    """Equal values; numbers compare by value (SQLite keeps NUMERIC as REAL)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (float, Decimal)) or isinstance(b, (float, Decimal)):
        return abs(float(a) - float(b)) < 1e-9
    return bool(a == b)
