"""Many writers and readers at once, as an unattended council has them: overlapping
`civiclake run`s with a `history compact`, and the SQL API under load while a run commits.

The project has one source of each kind that syncs — a database (the repairs simulator's
SQLite file), dropped files and the planning REST API (its simulator) — and jobs on each.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests import _faults

from civiclake import Project, init_project
from civiclake.simulators.planning import PlanningSimulator, PlanningWorld
from civiclake.simulators.repairs import RepairsSimulator

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
CLI = (sys.executable, "-c", _faults.RUN_CLI)
PUBLIC, PRIVATE = "pk-test", "sk-test-secret"
START = datetime(2026, 2, 2)
ROUNDS = 2
COMMANDS: list[list[str]] = [
    ["run", "--no-progress"],
    ["run", "--no-progress", "--select", "+housing/by_ward", "--select", "+housing/latest"],
    ["run", "--no-progress", "--select", "repairs/*", "--select", "planning/*"],
    ["history", "compact", "planning_refined.applications"],
]
"""One round: everything, the files and their jobs, the database and planning sources with
theirs, and a compaction of the planning history — overlapping on every source."""


@pytest.fixture(scope="module")
def planning() -> Iterator[PlanningSimulator]:
    simulator = PlanningSimulator(
        PlanningWorld(seed=3, start=START.date()), public_key=PUBLIC, private_key=PRIVATE
    ).start()
    yield simulator
    simulator.stop()


def _council(root: Path, planning: PlanningSimulator) -> tuple[Path, RepairsSimulator]:
    init_project(root, departments=["housing", "repairs", "planning"])
    db = root.parent / "drs.db"
    repairs = RepairsSimulator(f"sqlite:///{db}", scale=0.05, long_cycles=0).create()
    sources = root / "sources"
    (sources / "housing" / "rents.yaml").write_text(
        "type: files\ndataset: rents\npatterns: ['rents_*.csv']\nmin_file_age_seconds: 0\n"
    )
    (sources / "repairs" / "drs.yaml").write_text(
        f"type: database\nurl: sqlite:///{db}\n"
        "tables:\n  work_orders: {key: work_order_id}\n  operatives: {key: operative_id}\n"
    )
    (sources / "planning" / "planning_api.yaml").write_text(
        f"type: planning_api\nurl: {planning.url}\n"
        f"public_key: {PUBLIC}\nprivate_key: {PRIVATE}\n"
        "tables:\n  applications:\n    drop: [gis_map_image_base64]\n"
    )
    jobs = root / "jobs"
    (jobs / "housing" / "by_ward.sql").write_text(
        "-- zone: trusted\n-- key: ward\n"
        "SELECT ward, count(*) AS n, round(sum(balance), 2) AS balance\n"
        "FROM housing_raw.rents GROUP BY ward\n"
    )
    (jobs / "housing" / "latest.py").write_text(
        "from civiclake import job\n\n"
        "@job(inputs=['housing_raw.rents'], key=['tenancy'])\n"
        "def latest(rents):\n"
        "    return rents.query(\n"
        "        'r', 'select tenancy, max(balance) as balance from r group by tenancy'\n"
        "    )\n"
    )
    (jobs / "repairs" / "by_status.sql").write_text(
        "-- zone: trusted\n-- key: status\n"
        "SELECT status, count(*) AS n FROM repairs_raw.work_orders GROUP BY status\n"
    )
    (jobs / "planning" / "by_stage.sql").write_text(
        "-- zone: trusted\n-- key: application_stage\n"
        "SELECT application_stage, count(*) AS n FROM planning_refined.applications "
        "GROUP BY application_stage\n"
    )
    return root, repairs


def _new_inputs(root: Path, repairs: RepairsSimulator, planning: PlanningSimulator, n: int) -> None:
    """Round ``n``'s new data in every system (the same for every project built alike)."""
    inbox = root / "data" / "landing" / "housing" / "rents"
    inbox.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n)
    lines = ["tenancy,ward,balance"] + [
        f"T{i},W{rng.randint(1, 5)},{rng.randint(-500, 500) / 10}" for i in range(300 * n)
    ]
    (inbox / f"rents_2026-0{n}.csv").write_text("\n".join(lines) + "\n")
    if n > 1:
        repairs.cycle()
    planning.set_now(START + timedelta(days=n))


def _start(root: Path, command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *command, "-p", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    assert "Traceback" not in out and "database is locked" not in out, out
    return out


def _views(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every dataset as readers see it, without what depends on timing (lineage, ``_seq``)."""
    project = Project.load(root)
    session = project.engine().session()
    try:
        refs = project.catalog.datasets()
        session.register(refs)
        out = {}
        for ref in refs:
            table = session.sql(f"SELECT * FROM {ref.qualified}").read_all()
            # recorded times are when each process wrote: not part of what must be equal
            keep = [
                c
                for c in table.column_names
                if not c.startswith("_") and c not in ("recorded_from", "recorded_to")
            ]
            out[ref.qualified] = sorted(
                (tuple(r.values()) for r in table.select(keep).to_pylist()), key=repr
            )
        return out
    finally:
        session.close()
        project.store.close()


@pytest.fixture(scope="module")
def serial(
    tmp_path_factory: pytest.TempPathFactory, planning: PlanningSimulator
) -> dict[str, list[tuple[Any, ...]]]:
    """The rounds' commands one after another."""
    root, repairs = _council(tmp_path_factory.mktemp("serial") / "council", planning)
    with repairs:
        for n in range(1, ROUNDS + 1):
            _new_inputs(root, repairs, planning, n)
            for command in COMMANDS:
                _finish(_start(root, command))
    return _views(root)


def test_overlapping_runs_and_a_compaction_equal_a_serial_run(
    tmp_path: Path, planning: PlanningSimulator, serial: dict[str, list[tuple[Any, ...]]]
) -> None:
    root, repairs = _council(tmp_path / "council", planning)
    with repairs:
        for n in range(1, ROUNDS + 1):
            _new_inputs(root, repairs, planning, n)
            processes = [_start(root, command) for command in COMMANDS]
            for process in processes:
                _finish(process)
    found = _views(root)
    assert set(found) == set(serial)
    for name, rows in serial.items():
        assert found[name] == rows, name
    assert {"repairs_raw.work_orders", "planning_refined.applications__history"} <= set(found)


def test_the_api_under_load_does_not_fail_a_run_that_commits(
    tmp_path: Path, planning: PlanningSimulator
) -> None:
    """Twenty-odd audited queries a second beside a run: every step of the run succeeds."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from civiclake.access.tokens import issue_token
    from civiclake.serve import create_app

    root, repairs = _council(tmp_path / "council", planning)
    with repairs:
        _new_inputs(root, repairs, planning, 1)
        _finish(_start(root, ["run", "--no-progress"]))
        _new_inputs(root, repairs, planning, 2)
        project = Project.load(root)
        project.store.add_user("ada")
        project.store.set_grant("ada", "*", "admin", False)
        headers = {"Authorization": f"Bearer {issue_token(project.store, 'ada')[1]}"}
        answers: list[int] = []
        stop = threading.Event()
        with TestClient(create_app(project)) as client:

            def ask() -> None:
                while not stop.is_set():
                    response = client.post(
                        "/api/sql",
                        json={"sql": "SELECT count(*) AS n FROM housing_raw.rents"},
                        headers=headers,
                    )
                    answers.append(response.status_code)

            askers = [threading.Thread(target=ask, daemon=True) for _ in range(2)]
            for thread in askers:
                thread.start()
            try:
                out = _finish(_start(root, ["run", "--no-progress"]))
            finally:
                stop.set()
                for thread in askers:
                    thread.join(timeout=30)
        run = project.store.runs(limit=1)[0]
        steps = project.store.steps(run.id)
        assert run.status == "success", out
        assert steps and {s.status for s in steps} == {"success"}, out
        assert set(answers) == {200}
        audited = project.store.query_audit(limit=100_000)
        assert len(audited) == len(answers) > 20
        project.store.close()
