"""A file that does not load fails its own step; every other department still runs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from civiclake import Project, Runner, init_project
from civiclake.steps import Broken


def _council(tmp_path: Path) -> Project:
    root = init_project(tmp_path / "council", departments=["housing", "parking"])
    project = Project.load(root)
    project.catalog.write(
        project.dataset("parking", "raw", "permits"),
        pa.table({"id": [1, 2], "ward": ["Hill", "Vale"]}),
        mode="overwrite",
        producer="test",
    )
    project.catalog.write(
        project.dataset("housing", "raw", "rents"),
        pa.table({"id": [1], "ward": ["Hill"]}),
        mode="overwrite",
        producer="test",
    )
    jobs = root / "jobs"
    (jobs / "parking" / "by_ward.sql").write_text(
        "SELECT ward, count(*) AS n FROM parking_raw.permits GROUP BY ward\n"
    )
    (jobs / "housing" / "tenures.sql").write_text("SELECT id, FROM WHERE housing_raw.rents\n")
    (jobs / "housing" / "tenure_report.sql").write_text(
        "-- zone: trusted\nSELECT count(*) AS n FROM housing_refined.tenures\n"
    )
    (root / "sources" / "housing" / "rent_exports.yaml").write_text("type: filez\n")
    return project


def test_a_broken_job_fails_alone_and_blocks_only_its_readers(tmp_path: Path) -> None:
    project = _council(tmp_path)
    summary = Runner(project).run()
    status = {s.name: s.status for s in summary.steps}
    assert status["parking/by_ward"] == "success"
    assert status["housing/tenures"] == "failed"
    assert status["housing/tenure_report"] == "blocked"
    assert status["housing/rent_exports"] == "failed"
    failed = {s.name: s.error or "" for s in summary.steps if s.status == "failed"}
    assert "jobs/housing/tenures.sql" in failed["housing/tenures"]
    assert "does not parse" in failed["housing/tenures"]
    assert "filez" in failed["housing/rent_exports"]
    # the run is recorded, with every step
    (run,) = project.store.runs(1)
    assert run.status == "failed"
    assert {s.node for s in project.store.steps(run.id)} == set(status)
    assert project.catalog.exists(project.dataset("parking", "refined", "by_ward"))


def test_selecting_another_department_is_not_stopped_by_a_broken_file(tmp_path: Path) -> None:
    project = _council(tmp_path)
    summary = Runner(project).run(["parking/by_ward"])
    assert summary.ok
    assert [s.name for s in summary.steps] == ["parking/by_ward"]


def test_a_broken_step_is_listed_with_its_error(tmp_path: Path) -> None:
    project = _council(tmp_path)
    graph, _ = Runner(project).plan()
    broken = graph.nodes["housing/tenures"]
    assert isinstance(broken, Broken)
    assert broken.definition.description.startswith("broken: jobs/housing/tenures.sql")
    assert [r.qualified for r in broken.definition.writes] == ["housing_refined.tenures"]
