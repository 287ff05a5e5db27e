"""SIGKILL in the middle of applying an increment, then re-run: identical tables.

The kills land on fault points (:mod:`tests._faults`): just before and just after each Delta
commit the three increments make. One soak test (slow) still kills after a random delay.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from tests import _faults

from civiclake import Project, init_project

SCRIPT = """
import sys
from datetime import datetime, timedelta
import pyarrow as pa
from civiclake import HistorySpec, apply_increment
from civiclake import Project
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
    apply_increment(project.catalog, ref, data, spec, app_id=f"day{day}", import_id=f"i{day}",
                    producer="test")
    print(f"applied {day}", flush=True)
"""


def _init(root: Path) -> None:
    """A project whose compactions vacuum at once, so each vacuum is a commit to kill at."""
    init_project(root, departments=["planning"])
    config = root / "civiclake.yaml"
    text = config.read_text().replace(
        "  root: data\n", "  root: data\n  keep_replaced_files_hours: 0\n"
    )
    config.write_text(text)


def run_script(
    project_dir: Path, *, kill_after: float | None = None, env: dict[str, str] | None = None
) -> int:
    """Apply the three increments; SIGKILL after ``kill_after`` s, or wait for the end.

    Without ``kill_after`` the script must end by itself: with code 0, or killed by the fault
    point ``env`` installs; its return code is returned.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", _faults.PRELUDE + SCRIPT, str(project_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**(env or os.environ), "PYTHONHASHSEED": "0"},
    )
    if kill_after is None:
        _, err = process.communicate(timeout=300)
        assert process.returncode in (0, -signal.SIGKILL), err.decode()
        return process.returncode
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode


Snapshot = tuple[list[tuple[object, ...]], list[tuple[object, ...]]]


def snapshot(project_dir: Path) -> Snapshot:
    project = Project.load(project_dir)
    session = project.engine().session()
    try:
        from civiclake.storage import DatasetRef

        session.register([DatasetRef("planning", "refined", "apps")])
        latest = session.sql(
            "SELECT id, value, note, last_updated FROM planning_refined.apps ORDER BY id"
        ).read_all()
        history = session.sql(
            "SELECT id, value, valid_from, valid_to, _seq "
            "FROM planning_refined.apps__history ORDER BY id, _seq"
        ).read_all()
        return (
            [tuple(r.values()) for r in latest.to_pylist()],
            [tuple(r.values()) for r in history.to_pylist()],
        )
    finally:
        session.close()


COMMITS = 7
"""Delta commits of an uninterrupted run: day 0 creates the table; days 1 and 2 each append,
compact (one overwrite) and vacuum (a VACUUM START/END pair, one fault point)."""


class Reference(NamedTuple):
    tables: Snapshot
    commits: list[str]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """An uninterrupted run, counting its commits."""
    root = tmp_path_factory.mktemp("reference")
    _init(root / "council")
    log = root / "commits.log"
    assert run_script(root / "council", env=_faults.child_env(log)) == 0
    return Reference(snapshot(root / "council"), _faults.calls(log))


def test_the_fault_points_cover_every_commit(reference: Reference) -> None:
    assert len(reference.commits) == COMMITS, reference.commits


@pytest.mark.parametrize(
    ("when", "n"),
    _faults.points(COMMITS),
)
def test_killed_at_a_commit_then_rerun_gives_identical_tables(
    tmp_path: Path, reference: Reference, when: _faults.When, n: int
) -> None:
    crashed = tmp_path / "crashed"
    _init(crashed)
    log = tmp_path / "killed.log"
    assert run_script(crashed, env=_faults.child_env(log, when, n)) == -signal.SIGKILL
    assert _faults.calls(log) == reference.commits[:n]  # killed at the fault point
    # (points after-3 and before-4 fall between day 1's compaction and its vacuum: the
    # re-run must finish that vacuum, or later ``_seq`` values follow other table versions)
    assert run_script(crashed) == 0  # the re-run finishes the work exactly once
    assert snapshot(crashed) == reference.tables


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_killed_apply_at_a_random_moment_then_rerun_gives_identical_tables(
    tmp_path: Path, reference: Reference, trial: int
) -> None:
    """Soak: a kill anywhere, not only at a commit (outside the fast suite)."""
    crashed = tmp_path / "crashed"
    _init(crashed)
    delay = random.Random(trial).uniform(0.6, 3.0)
    run_script(crashed, kill_after=delay)
    assert run_script(crashed) == 0  # the re-run finishes the work exactly once
    assert snapshot(crashed) == reference.tables
