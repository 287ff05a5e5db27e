"""The demo's housing streams (landing-folder option) load through `civiclake run`."""

from __future__ import annotations

from pathlib import Path

from civiclake import Project, Runner
from civiclake.demo.streams import add_housing_streams


def test_housing_streams_in_a_project(project_dir: Path) -> None:
    written = add_housing_streams(project_dir, events=600)
    assert {p.name for p in written} == {"tenure_events.yaml", "contact_details_events.yaml"}
    project = Project.load(project_dir)
    summary = Runner(project).run(["housing/*"], command="run")
    assert summary.ok, [(s.name, s.error) for s in summary.steps]
    session = project.engine().session()
    try:
        session.register(project.catalog.datasets())
        for table in (
            "housing_refined.tenures",
            "housing_refined.tenures__history",
            "housing_refined.tenure_household_members",
            "housing_refined.contact_details",
        ):
            count = session.sql(f"SELECT count(*) AS n FROM {table}").read_all()
            assert count.column("n")[0].as_py() > 0, table
    finally:
        session.close()
