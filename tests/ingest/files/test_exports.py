"""Spreadsheets with full history: monthly full exports become latest, history, as-of.

Finding 6 of issue 14: a keyed files source appended every export to a raw table, so
after two monthly exports — the second lacking five tenancies — latest held 35 rows
for 20 keys and nothing marked the five gone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from civiclake import Project
from civiclake.ingest.exceptions import IngestError
from civiclake.storage import DatasetRef

from ._support import inbox, run
from .conftest import MakeSource

RAW = DatasetRef("housing", "raw", "rent_accounts")
EXPORT = {
    "patterns": ["rent_accounts_{month:%Y-%m}.csv"],
    "key": ["tenancy_ref"],
    "full_export": True,
}


def export(project: Project, month: str, balances: dict[int, float], *, mtime: int) -> Path:
    lines = ["tenancy_ref,tenant,balance"]
    lines += [f"T{ref:03d},Tenant {ref},{bal}" for ref, bal in sorted(balances.items())]
    path = inbox(project) / f"rent_accounts_{month}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def query(project: Project, sql: str) -> list[dict[str, Any]]:
    session = project.engine().session()
    try:
        session.register([RAW])
        return session.sql(sql).read_all().to_pylist()
    finally:
        session.close()


def balances(project: Project, relation: str) -> dict[str, float]:
    found = query(project, f"SELECT tenancy_ref, balance FROM housing_raw.{relation}")
    return {r["tenancy_ref"]: r["balance"] for r in found}


def test_two_monthly_exports_give_latest_history_and_as_of(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(**EXPORT)
    january = {i: 100.0 + i for i in range(20)}
    export(project, "2026-01", january, mtime=1_700_000_000)
    run(source)
    february = {i: b + 5 for i, b in january.items() if i >= 5}  # five tenancies ended
    export(project, "2026-02", february, mtime=1_700_000_100)
    counts = run(source)
    latest = balances(project, "rent_accounts")
    assert len(latest) == 15 and latest["T005"] == 110.0
    assert balances(project, "rent_accounts_as_of(DATE '2026-01-31')") == {
        f"T{i:03d}": b for i, b in january.items()
    }
    assert len(balances(project, "rent_accounts_as_of(DATE '2026-02-01')")) == 15
    ended = query(
        project,
        "SELECT tenancy_ref, valid_to FROM housing_raw.rent_accounts__history "
        "WHERE tenancy_ref < 'T005' ORDER BY tenancy_ref",
    )
    assert {str(r["valid_to"]) for r in ended} == {"2026-02-01 00:00:00"}
    assert any("15 new or changed, 5 gone, 0 unchanged" in n for n in counts.notes)


def test_a_late_month_slots_in_and_a_resent_month_changes_nothing(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(**EXPORT)
    export(project, "2026-01", {1: 10.0, 2: 20.0, 3: 30.0}, mtime=1_700_000_000)
    export(project, "2026-03", {1: 12.0, 2: 20.0, 3: 30.0}, mtime=1_700_000_100)
    run(source)
    march = balances(project, "rent_accounts_as_of(DATE '2026-03-31')")
    export(project, "2026-02", {1: 11.0, 3: 33.0}, mtime=1_700_000_200)  # arrives last
    counts = run(source)
    assert any("slotted in before the export of 2026-03-01" in n for n in counts.notes)
    assert balances(project, "rent_accounts_as_of(DATE '2026-02-28')") == {
        "T001": 11.0,
        "T003": 33.0,
    }
    assert balances(project, "rent_accounts_as_of(DATE '2026-03-31')") == march
    versions = query(project, "SELECT count(*) AS n FROM housing_raw.rent_accounts__history")
    # a re-sent January under another name is the same content: skipped by its hash;
    # the same month with the same rows under a new hash (a trailing newline) adds nothing
    path = export(project, "2026-01", {1: 10.0, 2: 20.0, 3: 30.0}, mtime=1_700_000_300)
    path.write_text(path.read_text() + "\n", encoding="utf-8")
    os.utime(path, (1_700_000_300, 1_700_000_300))
    run(source)
    again = query(project, "SELECT count(*) AS n FROM housing_raw.rent_accounts__history")
    assert again == versions


def test_a_rejected_row_does_not_delete_its_tenancy(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(**EXPORT, columns={"balance": "DOUBLE"})
    export(project, "2026-01", {1: 10.0, 2: 20.0, 3: 30.0}, mtime=1_700_000_000)
    run(source)
    path = inbox(project) / "rent_accounts_2026-02.csv"
    path.write_text("tenancy_ref,tenant,balance\nT001,Tenant 1,11\nT002,Tenant 2,oops\n")
    os.utime(path, (1_700_000_100, 1_700_000_100))
    counts = run(source)
    # T002's row was there but unreadable: it keeps January's value; T003 really ended
    assert balances(project, "rent_accounts") == {"T001": 11.0, "T002": 20.0}
    assert any("keep their last version until a readable export" in n for n in counts.notes)


def test_an_export_dated_by_a_column(project: Project, make_source: MakeSource) -> None:
    source = make_source(
        patterns=["rent*.csv"], key=["tenancy_ref"], full_export=True, effective_column="as_at"
    )
    path = inbox(project) / "rent.csv"
    path.write_text("tenancy_ref,balance,as_at\nT1,5,2026-04-30\nT2,6,2026-04-30\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    run(source)
    assert len(balances(project, "rent_accounts_as_of(DATE '2026-04-30')")) == 2
    assert balances(project, "rent_accounts_as_of(DATE '2026-04-29')") == {}
    mixed = inbox(project) / "rent2.csv"
    mixed.write_text("tenancy_ref,balance,as_at\nT1,5,2026-05-31\nT2,6,2026-06-30\n")
    os.utime(mixed, (1_700_000_100, 1_700_000_100))
    with pytest.raises(IngestError, match="holds more than one date"):
        run(source)


def test_a_name_without_its_date_is_refused_with_an_example(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(**{**EXPORT, "patterns": ["rent_accounts_{month:%Y-%m}*.csv"]})
    path = inbox(project) / "rent_accounts_latest.csv"
    path.write_text("tenancy_ref,balance\nT1,5\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    with pytest.raises(IngestError, match=r"cannot read the export's date.*rent_accounts_2026-03"):
        run(source)
    assert path.exists()  # nothing lost: it stays in the inbox for a rename


def test_full_export_needs_a_key(project: Project, make_source: MakeSource) -> None:
    with pytest.raises(Exception, match="needs `key:`"):
        make_source(patterns=["*.csv"], full_export=True)


def test_the_same_rows_under_a_later_month_are_that_months_export(
    project: Project, make_source: MakeSource
) -> None:
    """Found by the dbt peer suite: identical bytes under the next dated name were skipped
    by their hash as already loaded, so a record revived in April and deleted again was
    lost."""
    source = make_source(**EXPORT)
    export(project, "2026-01", {1: 10.0, 2: 20.0}, mtime=1_700_000_000)
    run(source)
    export(project, "2026-02", {1: 10.0}, mtime=1_700_000_100)  # 2 gone
    run(source)
    export(project, "2026-03", {1: 10.0, 2: 20.0}, mtime=1_700_000_200)  # = January's bytes
    counts = run(source)
    assert not any("same content" in n for n in counts.notes)
    assert balances(project, "rent_accounts_as_of(DATE '2026-03-31')") == {
        "T001": 10.0,
        "T002": 20.0,
    }
    export(project, "2026-04", {1: 10.0}, mtime=1_700_000_300)  # = February's bytes
    run(source)
    assert balances(project, "rent_accounts") == {"T001": 10.0}
    periods = query(
        project,
        "SELECT valid_from, valid_to FROM housing_raw.rent_accounts__history "
        "WHERE tenancy_ref = 'T002' ORDER BY valid_from",
    )
    assert [(str(p["valid_from"])[:10], str(p["valid_to"])[:10]) for p in periods] == [
        ("2026-01-01", "2026-02-01"),
        ("2026-03-01", "2026-04-01"),
    ]


def test_a_type_set_later_migrates_the_history_or_says_why_not(
    project: Project, make_source: MakeSource
) -> None:
    """Finding 7: a `columns:` type on a stored text column rejected rows and left it text."""
    source = make_source(**EXPORT, columns={"balance": "VARCHAR"})
    export(project, "2026-01", {1: 10.5, 2: 20.0}, mtime=1_700_000_000)
    run(source)
    source = make_source(**EXPORT, columns={"balance": "DOUBLE"})
    export(project, "2026-02", {1: 11.5, 2: 20.0}, mtime=1_700_000_100)
    counts = run(source)
    assert any("changed from VARCHAR to DOUBLE" in n for n in counts.notes)
    assert balances(project, "rent_accounts_as_of(DATE '2026-01-31')") == {
        "T001": 10.5,
        "T002": 20.0,
    }
    assert balances(project, "rent_accounts") == {"T001": 11.5, "T002": 20.0}
    source = make_source(**EXPORT, columns={"balance": "BIGINT"})
    export(project, "2026-03", {1: 12.0, 2: 20.0}, mtime=1_700_000_200)
    with pytest.raises(IngestError, match=r"2 of its \d+ stored values are not BIGINT"):
        run(source)
