"""`civiclake scheduler` as a council runs it: one leads, another stands by, SIGTERM drains."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
from tests import _faults

from civiclake import Project, init_project
from civiclake.metadata.leases import Leases

CLI = (sys.executable, "-c", _faults.RUN_CLI)


def _project(tmp_path: Path) -> Path:
    root = init_project(tmp_path / "council", departments=["parking"])
    config = root / "civiclake.yaml"
    config.write_text(config.read_text() + "scheduler:\n  tick_seconds: 0.2\n")
    project = Project.load(root)
    project.catalog.write(
        project.dataset("parking", "raw", "permits"),
        pa.table({"id": [1, 2, 3], "ward": ["Hill", "Vale", "Hill"]}),
        mode="overwrite",
        producer="test",
    )
    project.store.close()
    (root / "jobs" / "parking" / "by_ward.sql").write_text(
        "SELECT ward, count(*) AS n FROM parking_raw.permits GROUP BY ward\n"
    )
    return root


def _start(root: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "scheduler", "-p", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def _line(proc: subprocess.Popen[str], text: str) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"{text!r} never printed: {''.join(seen)}")


def test_sigterm_lets_the_running_run_finish_and_a_standby_waits_its_turn(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path)
    log = tmp_path / "faults.log"
    leader = _start(root, _faults.child_env(log, "pause", 1))
    _wait_for(Path(f"{log}.paused"), leader)  # its job run is about to commit
    standby = _start(root)
    assert "leads since" in _line(standby, "standing by")
    status = subprocess.run(
        [*CLI, "scheduler", "status", "--format", "json", "-p", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    shown = json.loads(status.stdout)
    assert f"pid {leader.pid}" in shown["leader"]
    (row,) = shown["steps"]
    assert row["step"] == "parking/by_ward" and row["last_status"] == "running"

    leader.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert leader.poll() is None  # draining: the run in flight is not cut off
    Path(f"{log}.go").touch()
    out, _ = leader.communicate(timeout=60)
    assert leader.returncode == 0, out
    assert "letting running runs finish" in out and "stopped cleanly" in out
    project = Project.load(root)
    (run,) = project.store.runs(10)
    assert run.status == "success" and run.command == "scheduler"
    assert project.catalog.exists(project.dataset("parking", "refined", "by_ward"))

    # the standby takes over once the leader has given up its lease
    assert "leading" in _line(standby, "leading")
    standby.send_signal(signal.SIGTERM)
    out, _ = standby.communicate(timeout=30)
    assert standby.returncode == 0, out
    assert not [h for h in Leases(project.store).held() if h.resource == "scheduler"]
    # nothing changed since: the standby ran nothing again
    assert len(project.store.runs(10)) == 1
