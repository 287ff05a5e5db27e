"""SIGKILL anywhere in ``history rebuild``, then read and run again: no version is lost.

The rebuild builds the new table beside the old one and swaps the two folders. The kills land
on fault points (:mod:`tests._faults`): the rebuild's first and last Delta commits and every
rename and removal of a table folder. After each kill the dataset still reads as the old or
the new table (both hold every version), and the next day's run adds to it rather than
starting a near-empty table beside the two.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from tests import _faults

from civiclake import Project, init_project

COMMON = """
import sys
from datetime import datetime, timedelta
import pyarrow as pa
from civiclake import HistorySpec, Project, apply_increment
from civiclake.snapshots import rebuild
from civiclake.storage import DatasetRef

project = Project.load(sys.argv[1])
ref = DatasetRef("planning", "refined", "apps")
spec = HistorySpec(key=("id",), version="last_updated", deleted="ceased", compact_ratio=0.5)
n = 2_000

def day(d):
    ids = pa.array(range(d * 300, d * 300 + n), pa.int64())
    stamp = datetime(2026, 3, 1) + timedelta(days=d)
    return pa.table({
        "id": ids,
        "value": pa.array([d] * n, pa.int64()),
        "last_updated": pa.array([stamp] * n, pa.timestamp("us")),
        "ceased": pa.array([i % 97 == d for i in range(n)]),
    })

def apply(d):
    apply_increment(project.catalog, ref, day(d), spec, app_id=f"day{d}", import_id=f"i{d}",
                    producer="test")
"""

DAYS = COMMON + "for d in range(int(sys.argv[2]), int(sys.argv[3])):\n    apply(d)\n"

REBUILD = (
    COMMON
    + """
import os, shutil
sys.path.insert(0, sys.argv[2])
import _faults
spec_env = os.environ.get(_faults.FAULT_ENV)
if spec_env:
    when, _, at = spec_env.partition(":")
    point, when = (int(at), when) if at else (None, "before")
    counter = _faults.kill_at_delta_commit(point, when, log=os.environ[_faults.LOG_ENV])
    for target, name in ((os, "rename"), (os, "replace"), (shutil, "rmtree")):
        _faults.kill_at(target, name, point, when, counter=counter)
rebuild(project.catalog, ref, spec, ((f"day{d}", day(d)) for d in range(3)),
        producer="test", import_id="rebuild")
"""
)


def _python(script: str, *args: str, env: dict[str, str] | None = None) -> int:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        env={**(env or os.environ), "PYTHONHASHSEED": "0"},
        timeout=300,
    )
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode


Tables = tuple[list[tuple[object, ...]], list[tuple[object, ...]]]


def tables(root: Path) -> Tables:
    """Latest and history as a reader sees them (every version, without ``_seq``)."""
    from civiclake.storage import DatasetRef

    session = Project.load(root).engine().session()
    try:
        session.register([DatasetRef("planning", "refined", "apps")])
        latest = session.sql("SELECT id, value FROM planning_refined.apps ORDER BY id").read_all()
        history = session.sql(
            "SELECT id, value, valid_from, valid_to FROM planning_refined.apps__history "
            "ORDER BY id, valid_from"
        ).read_all()
        return (
            [tuple(r.values()) for r in latest.to_pylist()],
            [tuple(r.values()) for r in history.to_pylist()],
        )
    finally:
        session.close()


def _council(root: Path) -> Path:
    init_project(root, departments=["planning"])
    assert _python(DAYS, root, 0, 3) == 0
    return root


def _rebuild(root: Path, log: Path | None = None, point: str | None = None) -> int:
    env = dict(os.environ)
    if log is not None:
        env |= {_faults.FAULT_ENV: point or "count:", _faults.LOG_ENV: str(log)}
    return _python(REBUILD, root, _faults.TESTS, env=env)


class Reference(NamedTuple):
    council: Path
    """A project with three days applied, not rebuilt."""
    before: Tables
    after: Tables
    """Its tables, and after a rebuild and a fourth day."""
    calls: list[str]
    """The fault points of an unkilled rebuild."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    folder = tmp_path_factory.mktemp("reference")
    pristine = _council(folder / "pristine")
    root = folder / "council"
    shutil.copytree(pristine, root)
    before = tables(root)
    log = folder / "count.log"
    assert _rebuild(root, log) == 0
    assert tables(root) == before  # a rebuild changes no version
    assert _python(DAYS, root, 3, 4) == 0
    return Reference(pristine, before, tables(root), _faults.calls(log))


def _swap_points(calls: list[str]) -> list[int]:
    """Fault points worth a kill: the first and last Delta commits of the build, and every
    file or folder moved or removed after it (the swap)."""
    commits = [n for n, c in enumerate(calls, 1) if c.split()[0].split(".")[-1] in _DELTA]
    return [commits[0], *range(commits[-1], len(calls) + 1)]


_DELTA = {name for _, name in _faults.delta_commit_points()}


def test_the_swap_commits_with_a_marker_then_renames_the_folders(reference: Reference) -> None:
    swap = [c for c in reference.calls[_swap_points(reference.calls)[1] :]]
    assert swap == [
        "shutil.rmtree refined/planning/apps.old",
        "os.replace refined/planning/apps.swap.tmp",
        "os.rename refined/planning/apps",
        "os.rename refined/planning/apps.rebuild",
        "shutil.rmtree refined/planning/apps.old",
    ]


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_anywhere_in_a_rebuild_the_table_reads_whole_and_the_next_run_adds_to_it(
    tmp_path: Path, reference: Reference, when: str
) -> None:
    before, after, calls = reference.before, reference.after, reference.calls
    for n in _swap_points(calls):
        root = tmp_path / f"{when}-{n}" / "council"
        shutil.copytree(reference.council, root)
        log = root.parent / "killed.log"
        assert _rebuild(root, log, f"{when}:{n}") == -signal.SIGKILL, (when, n)
        assert _faults.calls(log) == calls[:n]
        assert tables(root) == before, f"killed {when} {calls[n - 1]}: the table reads short"
        assert _python(DAYS, root, 3, 4) == 0
        assert tables(root) == after, f"killed {when} {calls[n - 1]}: the next run lost versions"
        leftovers = sorted(p.name for p in (root / "data/refined/planning").iterdir())
        assert leftovers == ["apps"], f"killed {when} {calls[n - 1]}: left {leftovers}"


def test_a_swap_the_next_run_finishes_records_the_rebuilt_tables_version(
    tmp_path: Path, reference: Reference
) -> None:
    """The old table has one more commit than the rebuilt one (a batch that added nothing):
    the next run must record the rebuilt table's version, not call it behind the catalog."""
    root = tmp_path / "council"
    shutil.copytree(reference.council, root)
    again = COMMON + "apply_increment(project.catalog, ref, day(2), spec, app_id='again', "
    again += "import_id='i9', producer='test')\n"
    assert _python(again, root) == 0
    last_rename = reference.calls.index("os.rename refined/planning/apps.rebuild") + 1
    log = tmp_path / "killed.log"
    assert _rebuild(root, log, f"after:{last_rename}") == -signal.SIGKILL
    assert _python(DAYS, root, 3, 4) == 0
    assert tables(root) == reference.after


def test_folders_left_by_the_old_two_rename_swap_are_put_back_before_the_next_run(
    tmp_path: Path, reference: Reference
) -> None:
    """The state issue 14 found: stopped between the renames of the old code (no marker),
    the next run wrote a near-empty table. Now the old table is put back and added to."""
    root = tmp_path / "council"
    shutil.copytree(reference.council, root)
    folder = root / "data/refined/planning"
    shutil.copytree(folder / "apps", folder / "apps.rebuild")  # a build of unknown state
    (folder / "apps").rename(folder / "apps.old")
    assert tables(root) == reference.before  # read from the old table meanwhile
    assert _python(DAYS, root, 3, 4) == 0
    assert tables(root) == reference.after
    assert sorted(p.name for p in folder.iterdir()) == ["apps"]
