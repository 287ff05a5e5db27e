"""Two runs at once (a cron overlap): the second waits for the datasets, or says who holds
them; either way no table is written by both, and the tables equal a serial run's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests import _faults
from tests.runner.test_runner import _crash_project, _tables

CLI = (sys.executable, "-c", _faults.RUN_CLI)


def _start(root: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "run", "--no-progress", "-p", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _paused(root: Path, log: Path) -> subprocess.Popen[str]:
    """A run held just before its first Delta commit, holding its datasets' leases."""
    first = _start(root, _faults.child_env(log, "pause", 1))
    deadline = time.monotonic() + 120
    while not Path(str(log) + ".paused").exists():
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "the first run never reached its first commit"
        time.sleep(0.05)
    return first


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    root = _crash_project(tmp_path_factory.mktemp("serial") / "council")
    assert _start(root).wait() == 0
    assert _start(root).wait() == 0
    return _tables(root)


@pytest.mark.slow
def test_a_second_run_waits_for_the_first_and_both_finish_once(
    tmp_path: Path, serial: dict[str, list[dict[str, object]]]
) -> None:
    root = _crash_project(tmp_path / "council")
    log = tmp_path / "first.log"
    first = _paused(root, log)
    second = _start(root)
    time.sleep(2)
    assert second.poll() is None, "the second run did not wait for the first"
    Path(str(log) + ".go").touch()
    out_first, _ = first.communicate(timeout=300)
    out_second, _ = second.communicate(timeout=300)
    assert first.returncode == 0, out_first
    assert second.returncode == 0, out_second
    assert _tables(root) == serial


@pytest.mark.slow
def test_a_run_that_may_not_wait_names_who_holds_the_dataset(tmp_path: Path) -> None:
    root = _crash_project(tmp_path / "council")
    log = tmp_path / "first.log"
    first = _paused(root, log)
    config = root / "civiclake.yaml"
    config.write_text(config.read_text().replace("lock_wait_seconds: 60", "lock_wait_seconds: 0"))
    second = _start(root)
    out, _ = second.communicate(timeout=120)
    Path(str(log) + ".go").touch()
    assert first.wait(timeout=300) == 0
    assert second.returncode != 0
    assert "is being written by run 1 (civiclake run)" in out, out
    assert "lock_wait_seconds" in out
    assert "Traceback" not in out
