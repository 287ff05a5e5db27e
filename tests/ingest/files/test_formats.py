"""Excel workbooks, JSON arrays and NDJSON files."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from civiclake import Project
from civiclake.ingest.exceptions import IngestError

from ._support import inbox, raw, rejected, rows, run
from .conftest import MakeSource


def _workbook(path: Path, rows_: list[list[object]], sheet: str = "Accounts") -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for row in rows_:
        ws.append(row)
    wb.create_sheet("Notes").append(["not data"])
    wb.save(path)


def test_excel_loads_typed_rows_and_rejects_values_that_do_not_fit(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.xlsx"], columns={"balance": "DECIMAL(12,2)"})
    _workbook(
        inbox(project) / "rent_2026_01.xlsx",
        [
            ["Account Ref", "Nom du Locataire", "Balance (£)", "Opened", "Score"],
            ["A1", "José", 12.5, dt.date(2024, 1, 2), 1.5],
            ["A2", "Bob", "n/a", dt.date(2024, 1, 3), 2.5],
            ["A3", "Zoë", 7, None, "n/a"],
            ["A4", None, 1.25, dt.date(2024, 2, 1), 4],
        ],
    )

    result = run(source)

    good = rows(project, raw())
    assert [(r["account_ref"], r["_source_row"]) for r in good] == [("A1", 2), ("A4", 5)]
    assert good[0]["nom_du_locataire"] == "José"
    assert good[0]["balance"] == Decimal("12.50")
    assert good[0]["score"] == 1.5
    assert good[0]["opened"].date() == dt.date(2024, 1, 2)
    bad = {r["_source_row"]: r for r in rows(project, rejected())}
    assert bad[3]["column_name"] == "balance"
    assert "could not convert n/a to DECIMAL(12,2)" in bad[3]["reason"]
    # fastexcel would have turned "n/a" into NULL; civiclake rejects the row instead
    assert bad[4]["column_name"] == "score"
    assert "could not convert n/a to DOUBLE" in bad[4]["reason"]
    assert json.loads(bad[4]["raw_line"])["account_ref"] == "A3"
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (4, 2, 2)


def test_excel_sheet_by_name_and_header_row(project: Project, make_source: MakeSource) -> None:
    source = make_source(patterns=["*.xlsx"], excel={"sheet": "Accounts", "header_row": 1})
    _workbook(inbox(project) / "r.xlsx", [["Rent report"], ["Ref", "Amount"], ["A1", 5]])

    run(source)

    assert [(r["ref"], r["amount"], r["_source_row"]) for r in rows(project, raw())] == [
        ("A1", 5, 3)
    ]


def test_excel_missing_sheet_names_the_sheets(project: Project, make_source: MakeSource) -> None:
    source = make_source(patterns=["*.xlsx"], excel={"sheet": "Acounts"})
    _workbook(inbox(project) / "r.xlsx", [["Ref"], ["A1"]])

    with pytest.raises(IngestError, match="no sheet 'Acounts' \\(did you mean `Accounts`\\?\\)"):
        run(source)


def test_json_array_of_records(project: Project, make_source: MakeSource) -> None:
    source = make_source(patterns=["*.json"], columns={"paid_on": "DATE"})
    records = [
        {"Permit Id": 1, "Zone": "Hackney Central", "Paid On": "2026-01-02"},
        {"Permit Id": 2, "Zone": "Dalston", "Paid On": "not a date"},
        {"Permit Id": 3, "Zone": "Clapton", "Paid On": None},
    ]
    (inbox(project) / "permits.json").write_text(json.dumps(records), encoding="utf-8")

    result = run(source)

    good = rows(project, raw())
    assert [(r["permit_id"], r["paid_on"], r["_source_row"]) for r in good] == [
        (1, dt.date(2026, 1, 2), 1),
        (3, None, 3),
    ]
    (bad,) = rows(project, rejected())
    assert (bad["_source_row"], bad["column_name"]) == (2, "paid_on")
    assert result.rows_rejected == 1


def test_ndjson_malformed_line_is_rejected_and_the_rest_load(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.ndjson", "*.jsonl"])
    folder = inbox(project)
    (folder / "events.ndjson").write_text(
        '{"id": 1, "kind": "open"}\n'
        "\n"
        '{"id": 2, "kind": "close"}\n'
        '{"id": 3, "kind": \n'
        '{"id": 4, "kind": "open"}\n',
        encoding="utf-8",
    )
    (folder / "clean.jsonl").write_text('{"id": 5, "kind": "x"}\n{"id": 6, "kind": "y"}\n', "utf-8")

    result = run(source)

    good = rows(project, raw())
    assert [(r["id"], r["_source_row"]) for r in good] == [(5, 1), (6, 2), (1, 1), (2, 3), (4, 5)]
    (bad,) = rows(project, rejected())
    assert bad["_source_row"] == 4
    assert bad["error_type"] == "MALFORMED JSON"
    assert bad["reason"].startswith("line 4 is not valid JSON")
    assert bad["raw_line"] == '{"id": 3, "kind": '
    assert (result.rows_out, result.rows_rejected) == (5, 1)


def test_unknown_extension_asks_for_a_format(project: Project, make_source: MakeSource) -> None:
    source = make_source(patterns=["*.dat"])
    (inbox(project) / "x.dat").write_text("a,b\n1,2\n", encoding="utf-8")

    with pytest.raises(IngestError, match="set `format:`"):
        run(source)
    run(make_source(patterns=["*.dat"], format="csv"))
    assert rows(project, raw())[0]["a"] == 1
