"""`civiclake simulate repairs-db`, `status` and `reconcile`, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from civiclake import init_project

from ._support import cli


def test_status_shows_a_reconciliation_that_repaired_a_missed_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    db = tmp_path / "drs.db"
    code, said = cli(capsys, "simulate", "repairs-db", f"sqlite:///{db}", "--scale", "0.1")
    assert code == 0 and "hard-deleted" in said
    root = init_project(tmp_path / "council", departments=["repairs"])
    monkeypatch.setenv("DRS_PATH", str(db))
    (root / "sources" / "repairs" / "drs.yaml").write_text(
        "type: database\nurl: sqlite:///${DRS_PATH}\ntables:\n  work_orders: {key: work_order_id}\n"
    )
    project = ["--project", str(root)]
    code, said = cli(capsys, "run", *project)
    assert code == 0, said
    assert "work_orders: 2" in said and "rows read (full)" in said

    # a back-office fix that does not bump updated_at: invisible to an incremental sync
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        wo = conn.execute(sa.text("SELECT min(work_order_id) FROM work_orders")).scalar_one()
        conn.execute(
            sa.text("UPDATE work_orders SET status = 'cancelled' WHERE work_order_id = :wo"),
            {"wo": wo},
        )
    engine.dispose()
    code, said = cli(capsys, "reconcile", "repairs/drs", *project)
    assert code == 0, said
    assert "reconciliation found 1 stale (1 repaired)" in said

    code, said = cli(capsys, "status", *project)
    assert code == 0, said
    assert "repairs/drs" in said and "repairs_raw.work_orders" in said
    assert "1 stale" in said

    code, said = cli(
        capsys,
        "query",
        f"SELECT status FROM repairs_raw.work_orders WHERE work_order_id = {wo}",
        *project,
    )
    assert "cancelled" in said

    code, said = cli(capsys, "reconcile", "repairs/nope", *project)
    assert code == 1 and "did you mean `repairs/drs`" in said
