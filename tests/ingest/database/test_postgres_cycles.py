"""48 cycles (12 simulated hours) of the repairs system on a real PostgreSQL server.

The simulator makes the changes that made a real council's 15-minute sync miss jobs: long
transactions committing after later ones, updates that do not bump ``updated_at``, hard
deletes and a server whose clock is behind. A naive watermark sync (``updated_at >`` the
newest seen, no overlap, no reconciliation) is run beside civiclake's on the same database:
it drifts; civiclake's latest tables equal the source after every cycle.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civiclake.simulators.repairs import RepairsSimulator

from ._support import TABLE_KEYS, differences, make_project, source_rows, sync

CYCLES = 48
TABLES = ("work_orders", "appointments")


class NaiveWatermarkSync:
    """The baseline: ``SELECT * WHERE updated_at > watermark`` every cycle, upserted by key."""

    def __init__(self, sim: RepairsSimulator, table: str) -> None:
        self.sim = sim
        self.table = sim.tables[table]
        self.key = TABLE_KEYS[table]
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.watermark: datetime | None = None

    def sync(self) -> None:
        query = self.table.select()
        if self.watermark is not None:
            query = query.where(self.table.c.updated_at > self.watermark)
        with self.sim.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                self.rows[tuple(row[k] for k in self.key)] = dict(row)
                if self.watermark is None or row["updated_at"] > self.watermark:
                    self.watermark = row["updated_at"]

    def differences(self) -> dict[str, list[Any]]:
        theirs = source_rows(self.sim, self.table.name)
        return {
            "missing": sorted(theirs.keys() - self.rows.keys()),
            "extra": sorted(self.rows.keys() - theirs.keys()),
            "stale": sorted(
                k for k in theirs.keys() & self.rows.keys() if theirs[k] != self.rows[k]
            ),
        }


@pytest.mark.slow
def test_48_cycles_naive_drifts_civiclake_stays_identical(
    tmp_path: Path, postgres_url: str
) -> None:
    clean = {"missing": [], "extra": [], "stale": []}
    with RepairsSimulator(postgres_url, seed=11, scale=0.3).create() as sim:
        project = make_project(
            tmp_path,
            postgres_url,
            tables={t: {"key": TABLE_KEYS[t]} for t in TABLES},
            reconcile_every_minutes=0,
        )
        naive = {t: NaiveWatermarkSync(sim, t) for t in TABLES}
        for baseline in naive.values():
            baseline.sync()
        sync(project)
        anomalies = {"silent": 0, "deleted": 0, "long_committed": 0, "skewed": 0}
        for cycle in range(1, CYCLES + 1):
            report = sim.cycle()
            anomalies["silent"] += len(report.silent_updates)
            anomalies["deleted"] += len(report.deleted)
            anomalies["long_committed"] += report.long_committed
            anomalies["skewed"] += report.skewed_updates
            for baseline in naive.values():
                baseline.sync()
            sync(project)
            for table in TABLES:
                assert differences(project, sim, table) == clean, f"{table} after cycle {cycle}"
        assert all(anomalies.values()), anomalies  # the run exercised every kind of trouble

        drift = naive["work_orders"].differences()
        # the baseline kept deleted jobs, missed silent updates and late-committed rows
        assert drift["extra"], "the naive sync should still hold hard-deleted work orders"
        assert drift["stale"], "the naive sync should miss updates it could not see"
        assert len(drift["extra"]) >= anomalies["deleted"]

        # reconciliation found and repaired every kind, and recorded it
        reports = project.store.reconciliations("repairs/drs", limit=1000)
        found = {
            kind: sum(r[f"{kind}_found"] for r in reports)
            for kind in ("missing", "stale", "deleted")
        }
        repaired = {
            kind: sum(r[f"{kind}_repaired"] for r in reports)
            for kind in ("missing", "stale", "deleted")
        }
        assert found["stale"] > 0 and found["deleted"] > 0, found
        assert repaired == found
        # deletes entered history as tombstones
        with sim.engine.connect() as conn:
            live = conn.execute(sa.text("SELECT count(*) FROM work_orders")).scalar_one()
        from ._support import query

        [row] = query(
            project,
            "SELECT count(DISTINCT work_order_id) FILTER (WHERE work_order_id NOT IN "
            "(SELECT work_order_id FROM repairs_raw.work_orders)) AS tombstones "
            "FROM repairs_raw.work_orders__history",
        )
        assert row["tombstones"] >= anomalies["deleted"]
        [latest] = query(project, "SELECT count(*) AS n FROM repairs_raw.work_orders")
        assert latest["n"] == live
