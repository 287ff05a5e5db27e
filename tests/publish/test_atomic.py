"""A reader polling during a publish sees the old table or the new one, never a mix or an error."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from civiclake import HistorySpec, apply_increment
from civiclake.publish import publish

from .conftest import Warehouse

ROWS = 150_000
SQL = "SELECT count(*), sum(balance) FROM housing_trusted.accounts"


def _apply(project: Any, n: int, ids: pa.Array, balance: pa.Array, ceased: pa.Array) -> None:
    data = pa.table(
        {
            "id": ids,
            "balance": balance,
            "ceased": ceased,
            "updated": pa.array([datetime(2026, 3, n)] * len(ids)),
        }
    )
    apply_increment(
        project.catalog,
        project.dataset("housing", "trusted", "accounts"),
        data,
        HistorySpec(key=("id",), version="updated", deleted="ceased"),
        app_id=f"accounts-{n}",
        import_id=f"a{n}",
        producer="test",
    )


def _expected(project: Any) -> tuple[int, int]:
    session = project.engine().session()
    try:
        session.register([project.dataset("housing", "trusted", "accounts")])
        row = session.sql(SQL).read_all().to_pylist()[0]
        return tuple(row.values())  # type: ignore[return-value]
    finally:
        session.close()


class Poller(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.seen, self.errors = url, [], []  # type: ignore[var-annotated]
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                try:
                    self.seen.append(tuple(conn.execute(SQL).fetchone() or ()))
                except psycopg.Error as exc:
                    self.errors.append(str(exc))


def _during(warehouse: Warehouse, **kwargs: Any) -> Poller:
    poller = Poller(warehouse.url)
    poller.start()
    while not poller.seen:  # the reader is reading before the publish starts
        time.sleep(0.001)
    ref = warehouse.project.dataset("housing", "trusted", "accounts")
    publish(warehouse.project, datasets=[ref], **kwargs)
    for _ in range(5):  # and after it ends
        n = len(poller.seen)
        while len(poller.seen) == n:
            time.sleep(0.001)
    poller.stop.set()
    poller.join()
    return poller


def test_readers_see_old_or_new(warehouse: Warehouse) -> None:
    project = warehouse.project
    ids = pa.array(range(ROWS), pa.int64())
    _apply(project, 1, ids, pc.multiply(ids, 2), pa.array([False] * ROWS))
    publish(project, datasets=[project.dataset("housing", "trusted", "accounts")])
    first = _expected(project)

    changed = pa.array(range(0, ROWS, 7), pa.int64())
    _apply(project, 2, changed, pc.add(changed, 1), pc.equal(pc.bit_wise_and(changed, 63), 0))
    second = _expected(project)
    full = _during(warehouse, full=True)
    assert not full.errors, full.errors[:3]
    assert set(full.seen) <= {first, second} and full.seen[0] == first and full.seen[-1] == second

    _apply(project, 3, changed, pc.add(changed, 5), pa.array([False] * len(changed)))
    third = _expected(project)
    incremental = _during(warehouse)
    assert not incremental.errors, incremental.errors[:3]
    assert set(incremental.seen) <= {second, third}
    assert incremental.seen[0] == second and incremental.seen[-1] == third
