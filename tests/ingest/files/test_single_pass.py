"""Large CSV files stream in one pass; bad rows found at the end abandon that write."""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files import load

from ._support import inbox, raw, rejected, rows, run
from .conftest import MakeSource


@pytest.fixture(autouse=True)
def every_file_is_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "SINGLE_PASS_MIN_BYTES", 0)


def test_clean_file_loads_in_one_pass(project: Project, make_source: MakeSource) -> None:
    source = make_source()
    (inbox(project) / "a.csv").write_text("ref,n\nA1,1\nA2,2\nA3,3\n", encoding="utf-8")

    result = run(source)

    assert [(r["ref"], r["_source_row"]) for r in rows(project, raw())] == [
        ("A1", 2),
        ("A2", 3),
        ("A3", 4),
    ]
    assert (result.rows_in, result.rows_out) == (3, 3)
    assert project.store.loaded_files()[0]["rows_loaded"] == 3


def test_bad_rows_found_late_are_rejected_without_duplicates(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(columns={"n": "INTEGER"})
    (inbox(project) / "a.csv").write_text("ref,n\nA1,1\nA2,x\nA3,3\nA4\n", encoding="utf-8")

    result = run(source)

    assert [(r["ref"], r["_source_row"]) for r in rows(project, raw())] == [("A1", 2), ("A3", 4)]
    assert [r["_source_row"] for r in rows(project, rejected())] == [3, 5]
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (4, 2, 2)
    assert project.tables.open(project.layout.table_uri(raw())).version() == 0


def test_wrong_encoding_found_late_commits_nothing(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source()
    (inbox(project) / "a.csv").write_bytes("ref,name\nA1,Zoë\n".encode("latin-1"))

    with pytest.raises(IngestError, match=r"set `csv\.encoding: latin-1`"):
        run(source)

    assert not project.tables.exists(project.layout.table_uri(raw()))


def test_header_only_file_creates_no_table(project: Project, make_source: MakeSource) -> None:
    source = make_source()
    (inbox(project) / "a.csv").write_text("ref,n\n", encoding="utf-8")

    result = run(source)

    assert result.rows_out == 0
    assert not project.tables.exists(project.layout.table_uri(raw()))
    assert project.store.loaded_files()[0]["rows_loaded"] == 0


def test_a_full_export_streams_in_one_pass_and_falls_back_on_a_bad_row(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(
        patterns=["rent_{month:%Y-%m}.csv"],
        key=["ref"],
        full_export=True,
        columns={"n": "INTEGER"},
    )
    import os

    january = inbox(project) / "rent_2026-01.csv"
    january.write_text("ref,n\nA1,1\nA2,2\nA3,3\n", encoding="utf-8")
    os.utime(january, (1_700_000_000, 1_700_000_000))
    first = run(source)
    assert (first.rows_in, first.rows_out) == (3, 3)
    february = inbox(project) / "rent_2026-02.csv"
    february.write_text("ref,n\nA1,1\nA2,x\nA3,4\n", encoding="utf-8")
    os.utime(february, (1_700_000_100, 1_700_000_100))
    second = run(source)
    assert (second.rows_in, second.rows_rejected) == (3, 1)
    session = project.engine().session()
    try:
        session.register([raw()])
        latest = session.sql("SELECT ref, n FROM housing_raw.rent_accounts").read_all()
        history = session.sql("SELECT ref FROM housing_raw.rent_accounts__history").read_all()
    finally:
        session.close()
    # the abandoned stream committed nothing: January's three versions and A3's change
    assert sorted(history.column("ref").to_pylist()) == ["A1", "A2", "A3", "A3"]
    # A2's row was unreadable, so A2 keeps January's value rather than being deleted
    assert sorted(latest.to_pylist(), key=lambda r: r["ref"]) == [
        {"ref": "A1", "n": 1},
        {"ref": "A2", "n": 2},
        {"ref": "A3", "n": 4},
    ]
