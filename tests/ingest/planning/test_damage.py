"""A keyed history table whose latest commit file was deleted (issue 13 §4).

Measured on main: deleting ``applications``' latest commit silently lost its versions and
the next run exited 0, committing on top. Now the run refuses, naming the dataset, the lost
commit and ``civiclake history rebuild``; doctor finds it; the rebuild from landing brings
back exactly what the API served.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.cli import main
from civiclake.simulators.planning import PlanningSimulator, PlanningWorld

from ._support import FIRST, assert_latest_matches, query, run_day

DATASET = "planning_refined.applications"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``civiclake ARGS`` as a user runs it: exit code and everything printed."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


def _commits(project: Project) -> list[Path]:
    table = Path(project.layout.table_uri(project.parse_dataset(DATASET)))  # type: ignore[arg-type]
    return sorted((table / "_delta_log").glob("*.json"))


def test_a_lost_latest_commit_is_refused_found_and_rebuilt_from_landing(
    planning: Project,
    simulator: PlanningSimulator,
    world: PlanningWorld,
    capsys: pytest.CaptureFixture[str],
) -> None:
    days = [FIRST + timedelta(days=n) for n in range(3)]
    for day in days:
        assert run_day(planning, simulator, day).ok
    versions = query(planning, f"SELECT count(*) AS n FROM {DATASET}__history")[0]["n"]
    lost = _commits(planning)[-1]
    lost.unlink()

    today = days[-1] + timedelta(days=1)
    simulator.set_now(datetime.combine(today, time(0)))
    project = str(planning.dir)
    code, text = cli(capsys, "run", "--today", str(today), "-p", project)
    assert code == 1, text
    flat = " ".join(text.split())
    assert f"{DATASET} is damaged" in flat and lost.name in flat
    assert f"civiclake history rebuild {DATASET}" in flat
    assert not lost.exists()  # nothing was committed on top of the loss

    code, text = cli(capsys, "doctor", "-p", project)
    assert code == 1
    assert "behind-catalog" in text and lost.name in text

    code, text = cli(capsys, "history", "rebuild", DATASET, "-p", project)
    assert code == 0, text
    code, text = cli(capsys, "doctor", "-p", project)
    assert code == 0, text
    # every version is back, and the day the refused run had landed is applied too
    assert query(planning, f"SELECT count(*) AS n FROM {DATASET}__history")[0]["n"] > versions

    code, text = cli(capsys, "run", "--today", str(today), "-p", project)
    assert code == 0, text
    assert_latest_matches(planning, world, today)
