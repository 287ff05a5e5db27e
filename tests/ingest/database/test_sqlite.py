"""The database source on the SQLite repairs simulator: full load, increments, reconciliation."""

from __future__ import annotations

from pathlib import Path

from civiclake.simulators.repairs import RepairsSimulator

from ._support import differences, make_project, query, sync


def test_cycles_then_reconcile(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drs.db'}"
    with RepairsSimulator(url, scale=0.2).create() as sim:
        project = make_project(tmp_path, url, reconcile_every_minutes=0)
        sync(project)
        for table in ("work_orders", "appointments", "operatives", "properties"):
            assert differences(project, sim, table) == {"missing": [], "extra": [], "stale": []}
        for _ in range(6):
            sim.cycle()
            sync(project)
        sim.settle()
        sync(project)
        for table in ("work_orders", "appointments"):
            assert differences(project, sim, table) == {"missing": [], "extra": [], "stale": []}
        reports = project.store.reconciliations("repairs/drs")
        assert reports
        print(reports[:3])
        print(query(project, "select count(*) from repairs_raw.work_orders__history"))
