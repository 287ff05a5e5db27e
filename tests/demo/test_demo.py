"""`civiclake demo` end to end: the demo council is built, loaded and transformed."""

from __future__ import annotations

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
    summary = build_demo(root)
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


def test_rerunning_the_demo_loads_nothing_twice(demo: Path) -> None:
    project = Project.load(demo)
    before = _rows(project, "select count(*) as n from housing_raw.rent_accounts")
    summary = build_demo(demo)
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
        [sys.executable, "-m", "civiclake", "demo", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    assert "run 1: success" in out
    assert "housing_trusted.arrears_by_ward" in out
    assert 'civiclake query "select' in out
