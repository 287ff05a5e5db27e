"""A long-lived API and `civiclake query` reading a history table before, during and after
compactions: every answer is the table's data, never "No files found".

A real `civiclake history compact` process is held between its commit and its vacuum (the
fault point of :mod:`tests._faults`), so "during" is a known moment, not a race; a thread
asks the API continuously through every round.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests import _faults

from civiclake import HistorySpec, Project, apply_increment
from civiclake.access.tokens import issue_token
from civiclake.query import run_query
from civiclake.serve.service import POLICY_TTL_SECONDS

pytest.importorskip("fastapi")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

DATASET = "planning_refined.applications"
LATEST = f"SELECT id, ward_id FROM {DATASET} ORDER BY id"
HISTORY = f"SELECT count(*) AS n, max(valid_from) AS newest FROM {DATASET}__history"
SPEC = HistorySpec(key=("id",), version="last_updated", deleted="ceased", compact_ratio=1000)
"""Never compacted by an apply: only the `history compact` processes fold the table."""


def _keep(project: Project, hours: int) -> Project:
    config = project.config_path
    config.write_text(
        config.read_text().replace(
            "  root: data\n", f"  root: data\n  keep_replaced_files_hours: {hours}\n"
        )
    )
    return Project.load(project.dir)


def _day(project: Project, n: int) -> None:
    """Day ``n`` of the planning system: every application's ward moves, one new one."""
    ids = [1, 2, 3, 10 + n]
    apply_increment(
        project.catalog,
        project.dataset("planning", "refined", "applications"),
        pa.table(
            {
                "id": ids,
                "applicant": [f"applicant {i}" for i in ids],
                "ward_id": [n * 100 + i for i in ids],
                "ceased": [False] * len(ids),
                "last_updated": [datetime(2026, 3, 2 + n, 12)] * len(ids),
            }
        ),
        SPEC,
        app_id=f"test-day-{n}",
        import_id=f"t{n}",
        producer="test",
    )


def _truth(project: Project) -> tuple[list[list[Any]], list[list[Any]]]:
    """The answers from a session opened now, beside the API."""
    latest = run_query(project, LATEST, user="ada").read_all().to_pylist()
    history = run_query(project, HISTORY, user="ada").read_all().to_pylist()
    return [list(r.values()) for r in latest], [list(r.values()) for r in history]


class Asker:
    """A thread asking the API the latest rows continuously; every answer is kept."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers
        self.answers: list[tuple[int, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._ask, daemon=True)

    def _ask(self) -> None:
        while not self.stop.is_set():
            response = self.client.post("/api/sql", json={"sql": LATEST}, headers=self.headers)
            self.answers.append((response.status_code, response.json()))

    def __enter__(self) -> Asker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.fixture
def api(council: Project) -> Iterator[tuple[Any, dict[str, str]]]:
    from fastapi.testclient import TestClient

    from civiclake.serve import create_app

    headers = {"Authorization": f"Bearer {issue_token(council.store, 'ada')[1]}"}
    with TestClient(create_app(Project.load(council.dir))) as client:
        yield client, headers


def _compact_paused(root: Path, log: Path) -> subprocess.Popen[str]:
    """`civiclake history compact`, held after its commit and before its vacuum."""
    process = subprocess.Popen(
        [sys.executable, "-c", _faults.RUN_CLI, "history", "compact", DATASET, "-p", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_faults.child_env(log, "pause", 2),  # commit 1: the compaction; 2: its vacuum
    )
    deadline = time.monotonic() + 120
    while not Path(f"{log}.paused").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the compaction never reached its vacuum"
        time.sleep(0.05)
    return process


@pytest.mark.parametrize("keep_hours", [1, 0])
def test_the_api_and_query_answer_correctly_through_several_compactions(
    council: Project, api: tuple[Any, dict[str, str]], tmp_path: Path, keep_hours: int
) -> None:
    """With the replaced files kept (the default) and even with none kept (the API binds
    again when a file it was bound to is gone), every answer is the table's data."""
    client, headers = api
    project = _keep(council, keep_hours)

    def asked() -> list[list[Any]]:
        response = client.post("/api/sql", json={"sql": LATEST}, headers=headers)
        assert response.status_code == 200, response.text
        return list(response.json()["rows"])

    def seen(latest: list[list[Any]]) -> list[list[Any]]:
        """The API's answer once it has seen a new day (within its policy cache's second)."""
        deadline = time.monotonic() + POLICY_TTL_SECONDS + 5
        while (answer := asked()) != latest and time.monotonic() < deadline:
            time.sleep(0.1)
        return answer

    uri = project.layout.table_uri(project.dataset("planning", "refined", "applications"))
    truths = [_truth(project)[0]]
    with Asker(client, headers) as asker:
        for n in range(1, 4):
            _day(project, n)
            latest, history = _truth(project)
            truths.append(latest)
            assert seen(latest) == latest  # before
            early = project.engine().session()  # a reader that opened the old version
            early.register(project.catalog.datasets())
            log = tmp_path / f"compact-{n}.log"
            compaction = _compact_paused(project.dir, log)
            # during: committed, not yet vacuumed, and the catalog already moved with the
            # commit (what makes the API bind to the new files)
            committed = project.tables.open(uri).history(1)[0]
            assert committed["civiclake.operation"] == "history-compact"
            for name in (DATASET, f"{DATASET}__history"):
                entry = project.store.dataset(name)
                assert entry is not None and entry["version"] == committed["version"]
            assert asked() == latest
            assert _truth(project) == (latest, history)
            Path(f"{log}.go").touch()
            out, _ = compaction.communicate(timeout=120)
            assert compaction.returncode == 0 and "compacted" in out, out
            assert asked() == latest  # after
            assert _truth(project) == (latest, history)
            if keep_hours:  # the early reader's files are still there: it finishes
                rows = early.sql(LATEST).read_all().to_pylist()
                assert [list(r.values()) for r in rows] == latest
            early.close()
    codes = {code for code, _ in asker.answers}
    assert codes == {200}, [a for a in asker.answers if a[0] != 200][:3]
    assert len(asker.answers) > 10
    # every answer from the thread was one whole day of the table, never a mixture
    assert all(body["rows"] in truths for _, body in asker.answers)
