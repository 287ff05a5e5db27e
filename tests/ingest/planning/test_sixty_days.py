"""Sixty simulated days end to end, with faults on: every version reaches history once."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from civiclake import Project, Runner, init_project
from civiclake.simulators.planning import Faults, PlanningSimulator, PlanningWorld

from ._support import FIRST, PRIVATE, PUBLIC, START, assert_latest_matches, query, stamp
from .conftest import write_source

DAYS = 60
OVERLAP = 2


def pulled_versions(world: PlanningWorld, days: list[date]) -> set[tuple[int, str]]:
    """(id, last_updated) of every version a nightly run could see, over all the runs, as
    ``__history`` shows them: a ceased record ends its application's last version (deletes:
    invalidate), and is no row of its own."""
    seen: set[tuple[int, str]] = set()
    for number, day in enumerate(days):
        served = world.current("applications", datetime.combine(day, time(0)))
        oldest = date.min if number == 0 else day - timedelta(days=OVERLAP + 2)
        for record in served:
            updated = datetime.fromisoformat(record["last_updated"]).date()
            if oldest <= updated < day and record.get("ceased") != "true":
                seen.add((int(record["id"]), record["last_updated"]))
    return seen


@pytest.mark.usefixtures("keys")
def test_sixty_days_with_faults(tmp_path: Path) -> None:
    world = PlanningWorld(seed=23, start=START)
    simulator = PlanningSimulator(world, public_key=PUBLIC, private_key=PRIVATE, page_size=100)
    simulator.set_faults(Faults(fail_rate=0.05, rate_limit_rate=0.03, seed=5))
    simulator.start()
    try:
        directory = init_project(tmp_path / "council", departments=["planning"])
        write_source(
            directory, simulator.url, tables={"applications": {"nested": "flatten"}, "fees": {}}
        )
        project = Project.load(directory)
        days = [FIRST + timedelta(days=n) for n in range(DAYS)]
        for day in days:
            simulator.set_now(datetime.combine(day, time(0)))
            summary = Runner(project, today=day, retries=3, backoff_seconds=0).run()
            assert summary.ok, [s.error for s in summary.steps]
        simulator.set_faults(Faults())

        assert_latest_matches(project, world, days[-1])
        history = query(
            project, "SELECT id, last_updated FROM planning_refined.applications__history"
        )
        got = [(r["id"], stamp(r["last_updated"])) for r in history]
        assert len(got) == len(set(got)), "a version entered history twice"
        assert set(got) == pulled_versions(world, days)

        # the column that appeared on day 20 evolved the table and the catalog noted it
        changes = project.store.schema_changes("planning_refined.applications")
        assert ("added", "climate_assessment_required") in {
            (c["change"], c["column_name"]) for c in changes
        }
        [row] = query(
            project,
            "SELECT count(climate_assessment_required) AS n FROM planning_refined.applications",
        )
        assert row["n"] > 0
        # a day's snapshot from before the column existed still reads
        early = days[5]
        as_of = query(
            project,
            f"SELECT count(*) AS n FROM planning_refined.applications_as_of(DATE '{early}')",
        )
        assert as_of[0]["n"] > 0
    finally:
        simulator.stop()
