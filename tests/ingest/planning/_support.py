"""Helpers for planning-source tests: run a business day, read tables, ground truth."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from civiclake import Project, Runner, RunSummary
from civiclake.ingest import load_sources
from civiclake.ingest.planning.source import PlanningApiSource
from civiclake.simulators.planning import PlanningSimulator, PlanningWorld
from civiclake.storage import DatasetRef

PUBLIC = "pk-riverside-test"
PRIVATE = "sk-riverside-secret-42"
START = date(2026, 1, 5)
FIRST = START + timedelta(days=1)
"""The first nightly run: a full load."""
SOURCE = "planning/planning_api"


def ref(table: str) -> DatasetRef:
    return DatasetRef("planning", "refined", table)


def run_day(project: Project, sim: PlanningSimulator, day: date, hour: int = 0) -> RunSummary:
    """The nightly run for business date ``day``, with the simulated clock at ``hour``."""
    sim.set_now(datetime.combine(day, time(hour)))
    return Runner(project, today=day, retries=0).run()


def query(project: Project, sql: str) -> list[dict[str, Any]]:
    from civiclake.query import run_query

    return run_query(project, sql).read_all().to_pylist()


def truth(world: PlanningWorld, table: str, day: date) -> dict[int, dict[str, Any]]:
    """What the API served at the start of ``day`` (the end of the day before), ceased removed."""
    served = world.current(table, datetime.combine(day, time(0)))
    return {int(r["id"]): r for r in served if r["ceased"] == "false"}


def stamp(value: datetime) -> str:
    return value.isoformat(sep=" ")


def batches(project: Project, table: str) -> list[dict[str, Any]]:
    """Every batch manifest of ``table``, in order."""
    folder = Path(project.layout.landing_inbox("planning", "planning_api")) / table
    found = sorted(folder.glob("*/batch-*.json"), key=lambda p: p.name)
    return [json.loads(p.read_text()) for p in found]


def cursor(project: Project, table: str) -> dict[str, Any]:
    return json.loads(project.store.get_cursor(SOURCE, table) or "{}")


def source(project: Project) -> PlanningApiSource:
    found = [s for s in load_sources(project) if s.name == SOURCE]
    assert isinstance(found[0], PlanningApiSource)
    return found[0]


def assert_latest_matches(project: Project, world: PlanningWorld, day: date) -> None:
    got = query(
        project,
        "SELECT id, last_updated, application_stage, officer_id FROM planning_refined.applications",
    )
    want = truth(world, "applications", day)
    assert len(got) == len(want)
    assert {r["id"]: stamp(r["last_updated"]) for r in got} == {
        i: r["last_updated"] for i, r in want.items()
    }
    assert {r["id"]: (r["application_stage"], str(r["officer_id"])) for r in got} == {
        i: (r["application_stage"], r["officer_id"]) for i, r in want.items()
    }
    fees = query(project, "SELECT id, fee, paid, last_updated FROM planning_refined.fees")
    want_fees = truth(world, "fees", day)
    assert {r["id"]: (float(r["fee"]), r["paid"]) for r in fees} == {
        i: (float(r["fee"]), r["paid"] == "true") for i, r in want_fees.items()
    }
