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
        reports = project.store.reconciliations("repairs/drs", limit=100)
        assert sum(r["stale_found"] for r in reports) > 0  # the silent updates were found
        assert all(r["stale_found"] == r["stale_repaired"] for r in reports)
        [row] = query(
            project,
            "select count(distinct work_order_id) as n from repairs_raw.work_orders__history "
            "where work_order_id not in (select work_order_id from repairs_raw.work_orders)",
        )
        assert row["n"] > 0  # hard deletes ended the keys' last versions


def test_reconciliation_follows_its_schedule(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from civiclake.ingest.database.sync import TableState

    url = f"sqlite:///{tmp_path / 'drs.db'}"
    with RepairsSimulator(url, scale=0.1).create() as sim:
        project = make_project(
            tmp_path,
            url,
            tables={"work_orders": {"key": "work_order_id"}},
            reconcile_every_minutes=60,
        )
        sync(project)  # a full load compares every row: it counts as a reconciliation
        sim.cycle()
        sync(project)
        assert project.store.reconciliations("repairs/drs") == []
        state = TableState.from_json(project.store.get_cursor("repairs/drs", "work_orders"))
        state.reconciled_at = (datetime.now(UTC) - timedelta(minutes=61)).isoformat()
        project.store.set_cursor("repairs/drs", "work_orders", state.to_json())
        sim.cycle()
        sync(project)
        [report] = project.store.reconciliations("repairs/drs")
        assert report["dataset"] == "repairs_raw.work_orders"
        sync(project)  # not due again for an hour
        assert len(project.store.reconciliations("repairs/drs")) == 1
