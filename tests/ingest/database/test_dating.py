"""Findings 1–4 of issue 14 through the database source itself (SQLite, real syncs).

Before: a key found missing by reconciliation was dated at the newest ``updated_at`` in the
table; an update that did not bump ``updated_at`` was dated just after the version before;
a nullable column added at the source wrote a second, identical version of every row; a
key deleted and restored with its old ``updated_at`` was dropped as a re-delivery.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civiclake import Project, init_project

from ._support import query, sync

OLD = datetime(2016, 10, 31, 12, 0)


@pytest.fixture
def source(tmp_path: Path) -> tuple[Project, sa.Engine]:
    url = f"sqlite:///{tmp_path / 'housing.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.exec_driver_sql(
            "CREATE TABLE tenancies (ref INTEGER PRIMARY KEY, rent INTEGER, updated_at DATETIME)"
        )
        table = sa.Table("tenancies", sa.MetaData(), autoload_with=con)
        con.execute(
            table.insert(), [{"ref": i, "rent": 100 + i, "updated_at": OLD} for i in range(20)]
        )
    directory = init_project(tmp_path / "council", departments=["repairs"])
    (directory / "sources" / "repairs" / "drs.yaml").write_text(
        f"type: database\nurl: {url}\nreconcile_every_minutes: 0\n"
        "tables:\n  tenancies: {key: ref}\n"
    )
    project = Project.load(directory)
    sync(project)
    yield project, engine
    engine.dispose()


def _count(project: Project, relation: str) -> int:
    return int(query(project, f"SELECT count(*) AS n FROM repairs_raw.{relation}")[0]["n"])


def _execute(engine: sa.Engine, sql: str, **params: Any) -> None:
    with engine.begin() as con:
        con.execute(sa.text(sql), params)


def test_a_delete_found_later_is_dated_by_the_sync_that_found_it(
    source: tuple[Project, sa.Engine],
) -> None:
    project, engine = source
    assert _count(project, "tenancies_as_of(DATE '2016-12-01')") == 20
    _execute(engine, "DELETE FROM tenancies WHERE ref < 5")
    before = datetime.now(UTC).replace(tzinfo=None)
    sync(project)  # reconciles: five keys gone, the newest updated_at still 2016
    assert _count(project, "tenancies") == 15
    assert _count(project, "tenancies_as_of(DATE '2016-12-01')") == 20  # the past stays
    ended = query(project, "SELECT valid_to FROM repairs_raw.tenancies__history WHERE ref < 5")
    assert len(ended) == 5 and all(r["valid_to"] >= before for r in ended)


def test_an_update_that_left_updated_at_alone_is_dated_when_seen(
    source: tuple[Project, sa.Engine],
) -> None:
    project, engine = source
    _execute(engine, "UPDATE tenancies SET rent = 999 WHERE ref = 3")  # updated_at untouched
    before = datetime.now(UTC).replace(tzinfo=None)
    sync(project)  # reconciliation finds the stale row
    [now] = query(project, "SELECT rent FROM repairs_raw.tenancies WHERE ref = 3")
    assert now["rent"] == 999
    [then] = query(
        project, "SELECT rent FROM repairs_raw.tenancies_as_of(DATE '2016-12-01') WHERE ref = 3"
    )
    assert then["rent"] == 103  # 2016 still answers 2016's rent
    [current] = query(
        project,
        "SELECT valid_from FROM repairs_raw.tenancies__history WHERE ref = 3 AND valid_to IS NULL",
    )
    assert current["valid_from"] >= before


def test_a_nullable_column_added_at_the_source_versions_nothing(
    source: tuple[Project, sa.Engine],
) -> None:
    project, engine = source
    _execute(engine, "ALTER TABLE tenancies ADD COLUMN arrears_flag VARCHAR")
    sync(project)  # a new column: the whole table is read again
    sync(project)  # and reconciled: the refreshed row hashes match the source
    assert _count(project, "tenancies__history") == 20
    assert _count(project, "tenancies WHERE arrears_flag IS NULL") == 20


def test_a_key_restored_with_its_old_updated_at_comes_back(
    source: tuple[Project, sa.Engine],
) -> None:
    project, engine = source
    _execute(engine, "DELETE FROM tenancies WHERE ref = 7")
    sync(project)
    assert _count(project, "tenancies WHERE ref = 7") == 0
    _execute(  # restored from a backup: the same row, the same 2016 updated_at
        engine, "INSERT INTO tenancies VALUES (7, 107, :at)", at=OLD
    )
    sync(project)
    assert _count(project, "tenancies WHERE ref = 7") == 1
    assert _count(project, "tenancies__history WHERE ref = 7") == 2
