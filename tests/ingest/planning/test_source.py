"""The planning_api source end to end, against the real simulator on a loopback port.

Each run is a nightly ``civiclake run`` for one business date, through the
runner, with the simulated clock at midnight of that date (or noon, where a
test needs records of the unfinished day).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from civiclake import Project
from civiclake.ingest.planning.auth import request_hash
from civiclake.simulators.planning import Faults, PlanningSimulator, PlanningWorld

from ._support import (
    FIRST,
    PRIVATE,
    PUBLIC,
    assert_latest_matches,
    cursor,
    query,
    run_day,
)
from .conftest import write_source


def test_a_full_load_then_daily_runs_keep_latest_equal_to_the_simulator(
    planning: Project, simulator: PlanningSimulator, world: PlanningWorld
) -> None:
    days = [FIRST + timedelta(days=n) for n in range(4)]
    for n, day in enumerate(days):
        summary = run_day(planning, simulator, day)
        assert summary.ok, [s.error for s in summary.steps]
        notes = " ".join(summary.steps[0].result.notes)
        assert ("full load" in notes) == (n == 0)
        assert cursor(planning, "applications")["pulled_through"] == str(day - timedelta(days=1))
    assert_latest_matches(planning, world, days[-1])
    # The day before the last was pulled three times (overlap): still one row per version.
    twice = query(
        planning,
        "SELECT id, last_updated, count(*) AS n FROM planning_refined.applications__history "
        "GROUP BY ALL HAVING count(*) > 1",
    )
    assert twice == []


def test_values_are_typed_not_left_as_strings(
    planning: Project, simulator: PlanningSimulator
) -> None:
    assert run_day(planning, simulator, FIRST).ok
    schema = _schema(planning)
    assert schema.field("id").type == pa.int64()
    assert schema.field("officer_id").type == pa.int64()
    assert schema.field("received_date").type == pa.date32()
    assert pa.types.is_timestamp(schema.field("last_updated").type)
    assert schema.field("is_major").type == pa.bool_()
    assert schema.field("ceased").type == pa.bool_()
    assert schema.field("site_address_x").type == pa.float64()  # the `types:` override
    assert "agent__name" in schema.names  # `nested: flatten`
    assert "gis_map_image_base64" not in schema.names  # `drop:`
    lineage = query(
        planning, "SELECT DISTINCT _source_file FROM planning_refined.applications LIMIT 1"
    )
    assert lineage[0]["_source_file"].startswith(
        f"landing/planning/planning_api/applications/{FIRST}/"
    )


def _schema(project: Project) -> pa.Schema:
    session = project.engine().session()
    try:
        session.register(project.catalog.datasets())
        return session.sql("SELECT * FROM planning_refined.applications LIMIT 0").schema
    finally:
        session.close()


def test_records_of_the_unfinished_day_wait_for_the_next_run(
    planning: Project, simulator: PlanningSimulator
) -> None:
    summary = run_day(planning, simulator, FIRST, hour=12)
    assert summary.ok
    assert any("left for the next run" in n for n in summary.steps[0].result.notes)
    newest = query(
        planning, "SELECT max(last_updated) AS m FROM planning_refined.applications__history"
    )
    assert newest[0]["m"] < datetime.combine(FIRST, datetime.min.time())
    assert run_day(planning, simulator, FIRST + timedelta(days=1), hour=12).ok
    days = query(
        planning,
        "SELECT DISTINCT CAST(last_updated AS DATE) AS d "
        f"FROM planning_refined.applications__history WHERE last_updated >= DATE '{FIRST}'",
    )
    assert [r["d"] for r in days] == [FIRST]


def test_a_wrong_private_key_fails_clearly_and_never_shows_the_key(
    planning: Project, simulator: PlanningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-private-key-9137"
    monkeypatch.setenv("PLANNING_API_PRIVATE_KEY", wrong)
    summary = run_day(planning, simulator, FIRST)
    step = summary.steps[0]
    assert step.status == "failed" and step.error is not None
    assert f"authentication failed for {simulator.url}/applications?page=1" in step.error
    assert "sources/planning/planning_api.yaml" in step.error
    assert "PLANNING_API_PUBLIC_KEY, PLANNING_API_PRIVATE_KEY" in step.error
    now = datetime.now()
    hashes = {request_hash(PUBLIC, wrong, now - timedelta(minutes=m)) for m in range(3)}
    logged = summary.log_path.read_text()
    for text in (step.error, logged):
        assert wrong not in text and PRIVATE not in text
        assert not any(h in text for h in hashes)
    assert cursor(planning, "applications") == {}


def test_random_errors_rate_limits_and_timeouts_are_ridden_out(
    planning: Project, simulator: PlanningSimulator, world: PlanningWorld
) -> None:
    write_source(
        planning.dir,
        simulator.url,
        retries=8,
        timeout_seconds=0.3,
        max_retry_after_seconds=0.01,
    )
    simulator.set_faults(
        Faults(fail_rate=0.15, rate_limit_rate=0.1, timeout_rate=0.03, timeout_seconds=1.0, seed=5)
    )
    summary = run_day(planning, simulator, FIRST)
    assert summary.ok, summary.steps[0].error
    assert cursor(planning, "applications")["failed"] == []
    assert_latest_matches(planning, world, FIRST)
