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
