"""A daily planning pull on the scheduler keeps its local time across the clocks changing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from civiclake import Project, init_project
from civiclake.scheduler import ManualClock, Scheduler
from civiclake.simulators.planning import PlanningSimulator, PlanningWorld

from ..ingest.planning._support import PRIVATE, PUBLIC, SOURCE, assert_latest_matches
from ..ingest.planning.conftest import write_source

WORLD_START = date(2027, 10, 20)
"""British Summer Time ends at 02:00 BST on Sunday 31 October 2027 (01:00 UTC)."""


@pytest.fixture
def planning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Project, PlanningSimulator, PlanningWorld]]:
    monkeypatch.setenv("PLANNING_API_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("PLANNING_API_PRIVATE_KEY", PRIVATE)
    world = PlanningWorld(seed=5, start=WORLD_START)
    sim = PlanningSimulator(world, public_key=PUBLIC, private_key=PRIVATE, page_size=100)
    sim.start()
    directory = init_project(tmp_path / "council", departments=["planning"])
    path = write_source(directory, sim.url)
    path.write_text(path.read_text() + 'schedule: "daily at 02:00"\n')
    yield Project.load(directory), sim, world
    sim.stop()


def test_a_daily_pull_runs_at_two_in_the_morning_local_before_and_after_the_change(
    planning: tuple[Project, PlanningSimulator, PlanningWorld],
) -> None:
    project, sim, world = planning
    clock = ManualClock(datetime(2027, 10, 29, 0, 0, tzinfo=UTC))
    scheduler = Scheduler(project, clock=clock)
    while clock.now() < datetime(2027, 11, 2, 0, 0, tzinfo=UTC):
        sim.set_now(clock.now())
        scheduler.tick()
        scheduler.wait()
        clock.advance(timedelta(minutes=30))
    scheduler.shutdown()
    slots = [d.slot for d in scheduler.dispatched if d.steps == (SOURCE,)]
    assert slots == [
        datetime(2027, 10, 29, 1, 0, tzinfo=UTC),  # 02:00 BST
        datetime(2027, 10, 30, 1, 0, tzinfo=UTC),  # 02:00 BST
        datetime(2027, 10, 31, 2, 0, tzinfo=UTC),  # 02:00 GMT, the morning the clocks go back
        datetime(2027, 11, 1, 2, 0, tzinfo=UTC),
    ]
    runs = project.store.runs(100)
    assert len(runs) == 4 and all(r.status == "success" for r in runs)
    # each pull's business day is the local date: the last one has everything to 31 October
    assert_latest_matches(project, world, date(2027, 11, 1))
