"""`civiclake demo` end to end: the demo council is built, loaded and transformed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from civiclake.demo import build_demo
from civiclake.jobs import load_jobs
from civiclake.jobs.sql import SqlJob
from civiclake.project import Project
from civiclake.query import run_query


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "riverside"
    summary = build_demo(root, planning_days=8)
    assert summary.ok, [(s.name, s.error) for s in summary.failed]
    return root


def _rows(project: Project, sql: str) -> list[dict[str, object]]:
    return run_query(project, sql).read_all().to_pylist()


def test_demo_builds_three_departments_with_jobs_in_refined_and_trusted(demo: Path) -> None:
    project = Project.load(demo)
    names = {r.qualified for r in project.catalog_datasets()}
    assert {
        "housing_raw.rent_accounts",
        "parking_raw.permits",
        "unrestricted_raw.wards",
        "housing_refined.rent_accounts",
        "housing_trusted.arrears_by_ward",
        "parking_trusted.permits_by_ward",
    } <= names
    jobs = load_jobs(project)
    assert len(jobs) >= 4
    assert {j.output.zone for j in jobs} == {"refined", "trusted"}
    assert any(j.path.suffix == ".py" for j in jobs)
    assert len({j.department for j in jobs}) >= 3


def test_demo_results_are_consistent(demo: Path) -> None:
    project = Project.load(demo)
    [counts] = _rows(
        project,
        "select (select count(*) from housing_refined.rent_accounts where is_current) as current,"
        " (select sum(tenancies) from housing_trusted.arrears_by_ward) as by_ward,"
        " (select count(*) from housing_trusted.arrears_by_ward) as wards",
    )
    assert counts["current"] == counts["by_ward"] and counts["wards"] == 20
    rejected = _rows(project, "select reason from housing_raw.rent_accounts__rejected")
    assert len(rejected) == 2


def test_demo_planning_department_keeps_history_and_decision_times(demo: Path) -> None:
    project = Project.load(demo)
    [counts] = _rows(
        project,
        "select (select count(*) from planning_refined.applications) as latest,"
        " (select count(*) from planning_refined.applications__history) as versions,"
        " (select count(distinct id) from planning_refined.applications__history) as ids,"
        " (select count(*) from planning_trusted.decision_times) as decided,"
        " (select count(*) from planning_refined.applications where ceased) as ceased",
    )
    assert counts["latest"] > 2000 and counts["versions"] > counts["ids"]
    assert counts["decided"] > 0 and counts["ceased"] == 0
    # working days exclude weekends and bank holidays: never more than calendar days
    [check] = _rows(
        project,
        "select count(*) as bad from planning_trusted.decision_times "
        "where working_days_to_decision > decision_issued_date - received_date "
        "or working_days_to_decision < 0",
    )
    assert check["bad"] == 0
    # an independent count, day by day, agrees with the job's calendar arithmetic
    [recount] = _rows(
        project,
        "select count(*) filter (where got <> want) as wrong from ("
        " select d.working_days_to_decision as got, (select count(*)"
        "  from range(d.received_date + 1, d.decision_issued_date + 1, interval 1 day) t(x)"
        "  where isodow(x) < 6 and cast(x as date) not in"
        "   (select date from unrestricted_refined.bank_holidays)) as want"
        " from planning_trusted.decision_times d)",
    )
    assert recount["wrong"] == 0


def test_demo_repairs_sync_matches_the_repairs_system_after_reconciling(demo: Path) -> None:
    import sqlalchemy as sa

    project = Project.load(demo)
    reports = project.store.reconciliations("housing-repairs/drs", limit=100)
    repaired = [r for r in reports if r["stale_repaired"] or r["deleted_repaired"]]
    assert repaired, "the demo's reconciliation should have found and repaired missed changes"
    assert all(r["stale_found"] == r["stale_repaired"] for r in reports)
    engine = sa.create_engine(f"sqlite:///{demo / 'systems' / 'repairs.db'}")
    with engine.connect() as conn:
        source = {
            (r[0], r[1])
            for r in conn.execute(sa.text("SELECT work_order_id, status FROM work_orders"))
        }
    engine.dispose()
    ours = {
        (r["work_order_id"], r["status"])
        for r in _rows(project, "select work_order_id, status from housing_repairs_raw.work_orders")
    }
    assert ours == source
    [check] = _rows(
        project,
        "select (select sum(open_jobs) from housing_repairs_trusted.open_work_orders) as jobs, "
        "(select count(*) from housing_repairs_raw.work_orders "
        " where status not in ('completed', 'cancelled')) as recount",
    )
    assert check["jobs"] == check["recount"] > 0


def test_demo_housing_streams_give_current_tenures_and_their_history(demo: Path) -> None:
    project = Project.load(demo)
    [row] = _rows(
        project,
        "select (select count(*) from housing_refined.tenures) as tenures, "
        "(select count(*) from housing_refined.tenures__history) as versions, "
        "(select count(*) from housing_refined.tenure_household_members) as members, "
        "(select count(*) from housing_raw.tenure_events__rejected) as poison",
    )
    assert row["tenures"] > 100 and row["versions"] > row["tenures"] and row["members"] > 0
    assert row["poison"] > 0  # the simulator's poison messages, kept with their reasons


def test_rerunning_the_demo_loads_nothing_twice(demo: Path) -> None:
    project = Project.load(demo)
    before = _rows(project, "select count(*) as n from housing_raw.rent_accounts")
    summary = build_demo(demo, planning_days=8)
    assert summary.ok
    assert _rows(project, "select count(*) as n from housing_raw.rent_accounts") == before
    sources = {s.name: s.result.rows_out for s in summary.steps if s.kind == "source"}
    assert set(sources.values()) == {0}


def test_every_demo_job_transpiles_to_spark_sql(demo: Path) -> None:
    jobs = [j for j in load_jobs(Project.load(demo)) if isinstance(j, SqlJob)]
    assert len(jobs) >= 5
    for job in jobs:
        assert job.transpile(to="spark").strip(), job.name


def test_demo_command_prints_what_was_built_and_how_to_query(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "civiclake", "demo", str(tmp_path / "d"), "--planning-days", "3"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    # one run per planning day, then the run of everything
    assert re.search(r"run \d+: success", out) and "Planning system, day 2 of 3" in out
    assert "housing_trusted.arrears_by_ward" in out
    assert 'civiclake query "select' in out
    assert re.search(r"work_orders: reconciliation found \d+ stale \(\d+ repaired\)", out)
    # serving: a curl line with the demo analyst's token for the SQL API
    assert "civiclake serve" in out and "curl" in out and "Bearer clk_" in out
