"""SIGKILL in the middle of applying an increment, then re-run: identical tables."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from civiclake.project import Project
from civiclake.project.scaffold import init_project

SCRIPT = """
import sys
from datetime import datetime, timedelta
import pyarrow as pa
from civiclake.history import HistorySpec, apply_increment
from civiclake.project import Project
from civiclake.storage import DatasetRef

project = Project.load(sys.argv[1])
ref = DatasetRef("planning", "refined", "apps")
# compact_ratio 0: every apply compacts, so a kill can land in either commit
spec = HistorySpec(key=("id",), version="last_updated", deleted="ceased", compact_ratio=0.0)
n = 60_000
for day in range(3):
    ids = pa.array(range(day * 8_000, day * 8_000 + n), pa.int64())
    stamp = datetime(2026, 3, 1) + timedelta(days=day)
    data = pa.table({
        "id": ids,
        "value": pa.array([day] * n, pa.int64()),
        "note": pa.array([f"day {day}"] * n),
        "last_updated": pa.array([stamp] * n, pa.timestamp("us")),
        "ceased": pa.array([i % 97 == day for i in range(n)]),
    })
    apply_increment(project, ref, data, spec, app_id=f"day{day}", import_id=f"i{day}",
                    producer="test")
    print(f"applied {day}", flush=True)
"""


def run_script(project_dir: Path, *, kill_after: float | None) -> int:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(project_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if kill_after is None:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
        return 0
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode


def snapshot(project_dir: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    project = Project.load(project_dir)
    session = project.engine().session()
    try:
        from civiclake.storage import DatasetRef

        session.register([DatasetRef("planning", "refined", "apps")])
        latest = session.sql(
            "SELECT id, value, note, last_updated FROM planning_refined.apps ORDER BY id"
        ).read_all()
        history = session.sql(
            "SELECT id, value, valid_from, valid_to, _deleted, _seq "
            "FROM planning_refined.apps__history ORDER BY id, _seq"
        ).read_all()
        return (
            [tuple(r.values()) for r in latest.to_pylist()],
            [tuple(r.values()) for r in history.to_pylist()],
        )
    finally:
        session.close()


@pytest.mark.parametrize("trial", range(3))
def test_killed_apply_then_rerun_gives_identical_tables(tmp_path: Path, trial: int) -> None:
    reference = tmp_path / "reference"
    init_project(reference, departments=["planning"])
    run_script(reference, kill_after=None)
    expected = snapshot(reference)

    crashed = tmp_path / "crashed"
    init_project(crashed, departments=["planning"])
    delay = random.Random(trial).uniform(0.6, 3.0)
    run_script(crashed, kill_after=delay)
    run_script(crashed, kill_after=None)  # the re-run finishes the work exactly once
    assert snapshot(crashed) == expected
