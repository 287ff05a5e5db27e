"""Finding a project's steps through the registered stage providers."""

from __future__ import annotations

from pathlib import Path

from civiclake import Project
from civiclake.exceptions import ConfigError
from civiclake.runner.plan import discover, providers
from civiclake.steps import Broken

CSV_SOURCE = "type: files\nformat: csv\ndataset: rent_accounts\n"
REFINED_JOB = "-- zone: refined\nSELECT * FROM housing_raw.rent_accounts\n"


def test_stages_run_in_the_order_their_providers_declare() -> None:
    names = [p.name for p in providers()]
    assert names.index("sources") < names.index("jobs") < names.index("publish")


def test_publishing_follows_every_step_writing_a_published_zone(project_dir: Path) -> None:
    (project_dir / "sources" / "housing" / "rents.yaml").write_text(CSV_SOURCE)
    (project_dir / "jobs" / "housing" / "rent_clean.sql").write_text(REFINED_JOB)
    config = project_dir / "civiclake.yaml"
    config.write_text(
        config.read_text()
        + "warehouse:\n  url: postgresql://x@127.0.0.1/x\n  zones: [refined, trusted]\n"
    )
    steps = discover(Project.load(project_dir))
    kinds = [(s.definition.name, s.definition.kind) for s in steps]
    assert kinds == [
        ("housing/rents", "source"),
        ("housing/rent_clean", "job"),
        ("unrestricted/publish", "publish"),
    ]
    assert [r.qualified for r in steps[-1].definition.reads] == ["housing_refined.rent_clean"]


def test_without_a_warehouse_nothing_is_published(project_dir: Path) -> None:
    (project_dir / "sources" / "housing" / "rents.yaml").write_text(CSV_SOURCE)
    assert [s.definition.kind for s in discover(Project.load(project_dir))] == ["source"]


def test_a_mistyped_source_type_names_the_file_and_the_closest_type(project_dir: Path) -> None:
    (project_dir / "sources" / "housing" / "rents.yaml").write_text("type: fiels\n")
    (step,) = discover(Project.load(project_dir), ["sources"])
    # it stands in the plan as a broken step: a run fails it alone, with this error
    assert isinstance(step, Broken) and isinstance(step.error, ConfigError)
    assert step.definition.name == "housing/rents"
    message = str(step.error)
    assert "rents.yaml, key `type`: unknown source type 'fiels'" in message
    assert "did you mean `files`?" in message
    assert "database, events, files, kafka, planning_api" in message
