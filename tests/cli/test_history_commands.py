"""`civiclake history rebuild|compact` and `civiclake backfill` as a user runs them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from civiclake import Project, Runner, init_project
from civiclake.simulators.planning import PlanningSimulator, PlanningWorld

from ._support import cli

START = date(2026, 2, 2)
PUBLIC, PRIVATE = "pk-test", "sk-test-secret"


@pytest.fixture
def council(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[date]]]:
    """A project that has pulled four days from the planning simulator (still serving)."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("PLANNING_API_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("PLANNING_API_PRIVATE_KEY", PRIVATE)
    simulator = PlanningSimulator(
        PlanningWorld(seed=3, start=START), public_key=PUBLIC, private_key=PRIVATE
    ).start()
    root = init_project(tmp_path / "council", departments=["planning"])
    (root / "sources" / "planning").mkdir(parents=True, exist_ok=True)
    (root / "sources" / "planning" / "planning_api.yaml").write_text(
        f"type: planning_api\nurl: {simulator.url}\n"
        "public_key: ${PLANNING_API_PUBLIC_KEY}\nprivate_key: ${PLANNING_API_PRIVATE_KEY}\n"
        "tables:\n  applications:\n    drop: [gis_map_image_base64]\n"
    )
    days = [START + timedelta(days=n) for n in range(1, 5)]
    for day in days:
        simulator.set_now(datetime.combine(day, time(0)))
        assert Runner(Project.load(root), today=day).run().ok
    yield root, days
    simulator.stop()


def tables(root: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    project = Project.load(root)
    session = project.engine().session()
    try:
        session.register(project.catalog.datasets())
        latest = session.sql(
            "SELECT id, last_updated, application_stage FROM planning_refined.applications "
            "ORDER BY id"
        ).read_all()
        history = session.sql(
            "SELECT id, valid_from, valid_to FROM planning_refined.applications__history "
            "ORDER BY id, valid_from, _seq"
        ).read_all()
        return (
            [tuple(r.values()) for r in latest.to_pylist()],
            [tuple(r.values()) for r in history.to_pylist()],
        )
    finally:
        session.close()


def test_history_rebuild_from_landing_gives_the_same_tables(
    council: tuple[Path, list[date]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = council
    before = tables(root)
    code, out = cli(capsys, "history", "rebuild", "planning_refined.applications", "-p", str(root))
    assert code == 0, out
    assert "rebuilt from" in out
    assert tables(root) == before


def test_history_compact_keeps_latest_and_history(
    council: tuple[Path, list[date]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = council
    before = tables(root)
    code, out = cli(capsys, "history", "compact", "planning_refined.applications", "-p", str(root))
    assert code == 0 and "planning_refined.applications" in out
    assert tables(root) == before


def test_backfill_re_pulls_days_without_duplicating_versions(
    council: tuple[Path, list[date]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, days = council
    before = tables(root)
    code, out = cli(
        capsys,
        "backfill",
        "planning/applications",
        "--from",
        str(days[0]),
        "--to",
        str(days[-2]),
        "-p",
        str(root),
    )
    assert code == 0, out
    assert "success" in out
    assert tables(root) == before


def test_unknown_names_get_clear_errors(
    council: tuple[Path, list[date]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = council
    code, out = cli(capsys, "history", "rebuild", "planning_refined.nothing", "-p", str(root))
    assert code != 0 and "no source keeps the history of planning_refined.nothing" in out
    code, out = cli(
        capsys,
        "backfill",
        "planning/nothing",
        "--from",
        "2026-02-01",
        "--to",
        "2026-02-02",
        "-p",
        str(root),
    )
    assert code != 0 and "has a table 'nothing'" in out
