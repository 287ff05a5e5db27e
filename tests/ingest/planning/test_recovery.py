"""Recovery of the planning_api source against the real simulator: failed pages fetched
next run, crashes between batches, backfills, and replay for a history rebuild."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.ingest.planning.load import Applied, TableLoader
from civiclake.ingest.rest.landing import Batch
from civiclake.lineage import new_import_id
from civiclake.simulators.planning import Faults, PlanningSimulator, PlanningWorld
from civiclake.snapshots import rebuild
from civiclake.steps import RunContext

from ._support import (
    FIRST,
    START,
    assert_latest_matches,
    batches,
    cursor,
    query,
    ref,
    run_day,
    source,
)
from .conftest import write_source


def test_failed_pages_are_remembered_and_exactly_they_are_fetched_next_run(
    planning: Project, simulator: PlanningSimulator, world: PlanningWorld
) -> None:
    assert run_day(planning, simulator, FIRST).ok
    day = FIRST + timedelta(days=1)
    simulator.set_faults(Faults(fail_pages={"applications": [2]}))
    summary = run_day(planning, simulator, day)
    step = summary.steps[0]
    assert step.status == "failed"
    assert step.error is not None
    assert "applications: pages still failing" in step.error and "page 2" in step.error
    assert "next run" in step.error and "new versions applied" in step.error
    failed = cursor(planning, "applications")["failed"]
    assert failed and all(f["pages"] == [2] for f in failed)
    missing = sorted(f["params"]["last_updated"] for f in failed)
    assert cursor(planning, "fees")["failed"] == []
    assert cursor(planning, "applications")["complete_through"] < missing[0]

    simulator.set_faults(Faults())
    summary = run_day(planning, simulator, day)  # the runner's retry, or a re-run
    assert summary.ok, summary.steps[0].error
    latest = batches(planning, "applications")[-1]
    assert [Path(f["path"]).name for f in latest["files"]] == [f"{d}-p0002.json" for d in missing]
    after = cursor(planning, "applications")
    assert after["failed"] == [] and after["complete_through"] == str(day - timedelta(days=1))

    assert run_day(planning, simulator, day + timedelta(days=1)).ok
    twice = query(
        planning,
        "SELECT id, last_updated FROM planning_refined.applications__history "
        "GROUP BY ALL HAVING count(*) > 1",
    )
    assert twice == []
    assert_latest_matches(planning, world, day + timedelta(days=1))


def test_replay_gives_every_batch_in_import_order_and_rebuilds_the_same_history(
    planning: Project, simulator: PlanningSimulator
) -> None:
    assert run_day(planning, simulator, FIRST).ok
    assert run_day(planning, simulator, FIRST + timedelta(days=1)).ok
    before = query(planning, "SELECT * FROM planning_refined.applications ORDER BY id")
    replayed = list(source(planning).replay("applications"))
    assert [app_id for app_id, _ in replayed] == [
        b["app_id"] for b in batches(planning, "applications")
    ]
    assert len(replayed) == 2 and all(t.num_rows for _, t in replayed)
    src = source(planning)
    rebuild(
        planning.catalog,
        ref("applications"),
        src.history_spec("applications"),
        iter(replayed),
        producer=src.name,
        import_id=new_import_id(),
    )
    after = query(planning, "SELECT * FROM planning_refined.applications ORDER BY id")
    drop = ("_import_id", "_imported_at", "_seq")
    assert [{k: v for k, v in r.items() if k not in drop} for r in after] == [
        {k: v for k, v in r.items() if k not in drop} for r in before
    ]


def test_a_large_pull_is_applied_in_batches_and_a_crash_between_them_resumes(
    planning: Project,
    simulator: PlanningSimulator,
    world: PlanningWorld,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_source(planning.dir, simulator.url, batch_pages=8)
    real = TableLoader.apply
    calls: list[str] = []

    def crash_on_second(self: TableLoader, ctx: RunContext, batch: Batch) -> Applied:
        calls.append(self.resource)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(self, ctx, batch)

    with monkeypatch.context() as patched:
        patched.setattr(TableLoader, "apply", crash_on_second)
        assert not run_day(planning, simulator, FIRST).ok
    recorded = batches(planning, "applications")
    assert len(recorded) == 3  # 21 pages, 8 a batch, all recorded before any is applied
    assert [b["state"] is None for b in recorded] == [True, True, False]
    assert cursor(planning, "applications")["last_batch"] == 1
    summary = run_day(planning, simulator, FIRST)
    assert summary.ok, summary.steps[0].error
    assert len(batches(planning, "applications")) == 3  # applied, not fetched again
    assert cursor(planning, "applications")["last_batch"] == 3
    assert cursor(planning, "applications")["pulled_through"] == str(START)
    assert_latest_matches(planning, world, FIRST)


def test_a_backfill_re_pulls_days_without_adding_versions_twice(
    planning: Project, simulator: PlanningSimulator
) -> None:
    day = FIRST + timedelta(days=1)
    assert run_day(planning, simulator, FIRST).ok
    assert run_day(planning, simulator, day).ok
    before = cursor(planning, "applications")
    ctx = RunContext(
        project=planning,
        run_id=0,
        import_id=new_import_id(),
        log=logging.getLogger("test.planning"),
        today=day,
    )
    result = source(planning).backfill(ctx, "applications", START, FIRST)
    assert result.rows_in > 0 and result.rows_out == 0
    assert any("already held" in n for n in result.notes)
    assert cursor(planning, "applications")["pulled_through"] == before["pulled_through"]
    assert len(batches(planning, "applications")) == 3
