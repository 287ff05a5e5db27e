"""The scheduler on a clock the test moves: slots, catch-up, overlap, asset-based jobs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from civiclake import Project, Runner, init_project
from civiclake.metadata.leases import Leases
from civiclake.metadata.schedules import ScheduleStates
from civiclake.scheduler import ManualClock, Scheduler
from civiclake.simulators.repairs import RepairsSimulator

from ..ingest.database._support import differences

DRS = "repairs/drs"
REPORT = "repairs/open_orders"
START = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)  # 00:00 in London (GMT)


@pytest.fixture
def repairs(tmp_path: Path) -> Iterator[tuple[Project, RepairsSimulator]]:
    """A repairs department syncing the simulated DRS every 15 minutes, and a job on it."""
    url = f"sqlite:///{tmp_path / 'repairs.db'}"
    start = START.replace(tzinfo=None)
    with RepairsSimulator(url, seed=3, scale=0.02, start=start).create() as sim:
        root = init_project(tmp_path / "council", departments=["repairs"])
        source = {
            "type": "database",
            "url": url,
            "schedule": "every 15 minutes",
            "reconcile_every_minutes": 60,
            "tables": {"work_orders": {"key": "work_order_id"}},
        }
        (root / "sources" / "repairs" / "drs.yaml").write_text(yaml.safe_dump(source))
        (root / "jobs" / "repairs" / "open_orders.sql").write_text(
            "SELECT status, count(*) AS n FROM repairs_raw.work_orders GROUP BY status\n"
        )
        yield Project.load(root), sim


def _runs(project: Project, step: str) -> list[int]:
    runs = project.store.runs(10_000)
    return sorted({s.run_id for r in runs for s in project.store.steps(r.id) if s.node == step})


def _syncs(scheduler: Scheduler) -> list[datetime | None]:
    return [d.slot for d in scheduler.dispatched if d.steps == (DRS,)]


def _look(scheduler: Scheduler) -> None:
    """One look and the runs it started, then a look for the jobs downstream of them."""
    scheduler.tick()
    scheduler.wait()
    scheduler.tick()
    scheduler.wait()


def test_a_15_minute_sync_runs_once_per_slot_through_a_simulated_day(
    repairs: tuple[Project, RepairsSimulator],
) -> None:
    project, sim = repairs
    clock = ManualClock(START)
    scheduler = Scheduler(project, clock=clock)
    scheduler.tick()  # first look: the next slot is 00:15, nothing runs yet
    assert scheduler.dispatched == []
    for _ in range(24 * 4):
        clock.advance(timedelta(minutes=15))
        sim.cycle()
        scheduler.tick()
        scheduler.wait()
        scheduler.tick()  # the job, now that its input moved
        scheduler.wait()
    scheduler.shutdown()
    slots = _syncs(scheduler)
    assert slots == [START + timedelta(minutes=15 * i) for i in range(1, 97)]
    assert all(d.missed == 0 for d in scheduler.dispatched)
    assert len(_runs(project, DRS)) == 96
    # the job ran after each sync that changed its input, never on its own
    jobs = [d for d in scheduler.dispatched if REPORT in d.steps]
    assert 0 < len(jobs) <= 96
    assert all("repairs_raw.work_orders" in d.reason or "not built" in d.reason for d in jobs)
    assert differences(project, sim, "work_orders")["missing"] == []


def test_missed_slots_after_downtime_are_caught_up_once(
    repairs: tuple[Project, RepairsSimulator],
) -> None:
    project, sim = repairs
    clock = ManualClock(START)
    scheduler = Scheduler(project, clock=clock)
    _look(scheduler)
    clock.advance(timedelta(hours=3, minutes=10))  # down from 00:00 to 03:10: 12 slots
    sim.cycle()
    _look(scheduler)
    (catch_up,) = [d for d in scheduler.dispatched if d.steps == (DRS,)]
    assert catch_up.missed == 12
    assert catch_up.slot == START + timedelta(hours=3)
    assert "12 missed slot(s)" in catch_up.reason
    # and the next slot is the regular one after now, not one of the missed ones
    state = ScheduleStates(project.store).get(DRS)
    assert state is not None and state.next_due_at == START + timedelta(hours=3, minutes=15)
    _look(scheduler)
    assert len(_syncs(scheduler)) == 1
    scheduler.shutdown()
    assert differences(project, sim, "work_orders")["missing"] == []


def test_catch_up_skip_drops_missed_slots(repairs: tuple[Project, RepairsSimulator]) -> None:
    project, _ = repairs
    (project.dir / "civiclake.yaml").write_text(
        (project.dir / "civiclake.yaml").read_text() + "scheduler:\n  catch_up: skip\n"
    )
    project = Project.load(project.dir)
    clock = ManualClock(START)
    scheduler = Scheduler(project, clock=clock)
    _look(scheduler)
    clock.advance(timedelta(hours=3, minutes=10))
    _look(scheduler)
    assert _syncs(scheduler) == []
    clock.advance(timedelta(minutes=5))  # 03:15, on time
    _look(scheduler)
    assert _syncs(scheduler) == [START + timedelta(hours=3, minutes=15)]
    scheduler.shutdown()


def test_a_step_never_overlaps_a_run_still_writing_its_datasets(
    repairs: tuple[Project, RepairsSimulator],
) -> None:
    project, _ = repairs
    clock = ManualClock(START)
    scheduler = Scheduler(project, clock=clock)
    _look(scheduler)
    # another process's run (a manual `civiclake run`) holds the source's table
    leases = Leases(project.store)
    held = leases.acquire(["repairs_raw.work_orders"], holder="run 99 (civiclake run)", ttl=600)
    assert isinstance(held, list)
    for _ in range(3):
        clock.advance(timedelta(minutes=15))
        _look(scheduler)
    assert _syncs(scheduler) == []
    leases.release(held)
    clock.advance(timedelta(minutes=1))
    _look(scheduler)
    (sync,) = scheduler.dispatched[:1]
    assert sync.steps == (DRS,) and sync.missed == 2  # 00:15 and 00:30 waited; 00:45 ran late
    assert len(_syncs(scheduler)) == 1
    scheduler.shutdown()


def test_paused_steps_skip_their_slots_and_resume_at_the_next(
    repairs: tuple[Project, RepairsSimulator],
) -> None:
    project, _ = repairs
    clock = ManualClock(START)
    scheduler = Scheduler(project, clock=clock)
    states = ScheduleStates(project.store)
    _look(scheduler)
    states.pause(DRS, by="ana")
    for _ in range(4):
        clock.advance(timedelta(minutes=15))
        _look(scheduler)
    assert _syncs(scheduler) == []
    paused = states.get(DRS)
    assert paused is not None and paused.paused and paused.paused_by == "ana"
    states.resume(DRS)
    _look(scheduler)  # 01:00: resuming does not run the skipped slots
    assert _syncs(scheduler) == []
    clock.advance(timedelta(minutes=15))
    _look(scheduler)
    assert _syncs(scheduler) == [START + timedelta(hours=1, minutes=15)]
    scheduler.shutdown()


def test_a_job_runs_when_its_input_or_its_file_changes_and_a_failed_one_waits(
    repairs: tuple[Project, RepairsSimulator],
) -> None:
    project, _ = repairs
    Runner(project).run([DRS])  # the input exists; the job was never built
    clock = ManualClock(START)
    scheduler = Scheduler(project, clock=clock)
    _look(scheduler)
    assert [d.steps for d in scheduler.dispatched] == [(REPORT,)]
    assert scheduler.dispatched[0].reason == f"{REPORT}: not built yet"
    _look(scheduler)
    assert len(scheduler.dispatched) == 1  # nothing changed: nothing runs
    job = project.dir / "jobs" / "repairs" / "open_orders.sql"
    job.write_text("SELECT status, count(*) AS n FROM repairs_raw.work_orderz GROUP BY status\n")
    _look(scheduler)
    assert scheduler.dispatched[-1].reason == f"{REPORT}: changed: its file"
    state = ScheduleStates(project.store).get(REPORT)
    assert state is not None and state.last_status == "failed"
    for _ in range(3):  # a failed job is not retried every tick
        _look(scheduler)
    assert len(scheduler.dispatched) == 2
    job.write_text("SELECT status, count(*) AS n FROM repairs_raw.work_orders GROUP BY status\n")
    _look(scheduler)
    state = ScheduleStates(project.store).get(REPORT)
    assert state is not None and state.last_status == "success"
    assert len(scheduler.dispatched) == 3
    scheduler.shutdown()


def test_a_run_left_running_by_a_dead_scheduler_is_marked_abandoned_and_runs_again(
    repairs: tuple[Project, RepairsSimulator],
) -> None:
    project, _ = repairs
    Runner(project).run([DRS])
    states = ScheduleStates(project.store)
    from civiclake.metadata.schedules import ScheduleState

    states.save(ScheduleState(REPORT, last_status="running", inputs_seen={"x": 1}))
    scheduler = Scheduler(project, clock=ManualClock(START))
    _look(scheduler)
    assert [d.steps for d in scheduler.dispatched] == [(REPORT,)]  # its inputs never recorded
    state = states.get(REPORT)
    assert state is not None and state.last_status == "success"
    scheduler.shutdown()


def test_a_job_whose_run_could_not_start_is_tried_again(
    repairs: tuple[Project, RepairsSimulator],
) -> None:
    project, _ = repairs
    config = project.dir / "civiclake.yaml"
    config.write_text(config.read_text() + "run:\n  lock_wait_seconds: 0\n")
    project = Project.load(project.dir)
    Runner(project).run([DRS])
    leases = Leases(project.store)
    held = leases.acquire(["repairs_refined.open_orders"], holder="run 99 (civiclake run)", ttl=600)
    assert isinstance(held, list)
    scheduler = Scheduler(project, clock=ManualClock(START))
    _look(scheduler)  # started, but the run stopped at once: its dataset was busy
    assert any("being written by run 99" in e for e in scheduler.errors)
    leases.release(held)
    _look(scheduler)
    state = ScheduleStates(project.store).get(REPORT)
    assert state is not None and state.last_status == "success"
    assert project.catalog.exists(project.dataset("repairs", "refined", "open_orders"))
    scheduler.shutdown()
