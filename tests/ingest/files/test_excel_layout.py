"""Excel workbooks the way councils export them: a cover sheet, title rows above the
header, blank rows in the data and totals at the bottom."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from pydantic import ValidationError

from civiclake import Project
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files.config import ExcelOptions

from ._support import inbox, raw, rejected, rows, run
from .conftest import MakeSource

Sheets = dict[str, list[list[object]]]

COVER = [["Rent accounts, January 2026"], [], ["Prepared by Finance. Figures unaudited."]]
ACCOUNTS = [
    ["Rent accounts report"],  # row 1: a title
    ["Run on 31/01/2026", "by FIN01"],  # row 2: a subtitle of two cells
    [],  # row 3
    ["Tenancy Ref", "Tenant", "Balance"],  # row 4: the header
    ["T1", "Ann", 12.5],  # row 5
    [],  # row 6: a blank row inside the data
    ["T2", "Bob", 3],  # row 7
    ["T3", "Cy", -1],  # row 8
    [],  # row 9
    ["Total", None, 14.5],  # row 10
    ["Grand total", None, 14.5],  # row 11
]


def _workbook(path: Path, sheets: Sheets) -> Path:
    wb = openpyxl.Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    for title, rows_ in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows_:
            ws.append(row)
    wb.save(path)
    return path


def test_cover_sheet_title_rows_blank_rows_and_totals_are_not_loaded(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.xlsx"])
    _workbook(inbox(project) / "rent_2026_01.xlsx", {"Cover": COVER, "Accounts": ACCOUNTS})

    result = run(source)

    assert [(r["tenancy_ref"], r["balance"], r["_source_row"]) for r in rows(project, raw())] == [
        ("T1", 12.5, 5),
        ("T2", 3.0, 7),
        ("T3", -1.0, 8),
    ]
    bad = [(r["_source_row"], r["error_type"], r["reason"]) for r in rows(project, rejected())]
    assert bad == [
        (6, "BLANK ROW", "blank row"),
        (9, "BLANK ROW", "blank row"),
        (10, "FOOTER ROW", "footer row 'Total'"),
        (11, "FOOTER ROW", "footer row 'Grand total'"),
    ]
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (7, 3, 4)
    assert (
        "rent_2026_01.xlsx: loaded sheet 'Accounts' (header on row 4); "
        "sheet 'Cover' holds no table" in result.notes
    )


def test_sums_after_the_data_without_a_total_label_are_a_footer(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.xlsx"])
    sheet = [
        ["Ref", "Ward", "Arrears", "Paid"],
        ["T1", "Hoxton", 10, 1],
        ["T2", "Dalston", 5, 2],
        [],
        [None, None, 15, 3],
        ["All wards", None, 15, 3],
    ]
    _workbook(inbox(project) / "r.xlsx", {"Arrears": sheet})

    run(source)

    assert [r["ref"] for r in rows(project, raw())] == ["T1", "T2"]
    assert [(r["_source_row"], r["reason"]) for r in rows(project, rejected())] == [
        (4, "blank row"),
        (5, "footer row (numbers after the data)"),
        (6, "footer row 'All wards'"),
    ]


def test_explicit_header_row_wins_over_detection(project: Project, make_source: MakeSource) -> None:
    source = make_source(patterns=["*.xlsx"], excel={"header_row": 4})
    _workbook(inbox(project) / "r.xlsx", {"Accounts": ACCOUNTS})

    run(source)

    # row 5 (T1) is taken as the header: what the config says, not what civiclake guesses
    assert [r["t1"] for r in rows(project, raw())] == ["T2", "T3"]


def test_sheet_chosen_by_its_columns(project: Project, make_source: MakeSource) -> None:
    source = make_source(
        patterns=["*.xlsx"], excel={"sheet_containing": ["Tenancy Ref", "balance"]}
    )
    other = [["Ward", "Officer"], ["Hoxton", "Jo"]]
    _workbook(inbox(project) / "r.xlsx", {"Cover": COVER, "Wards": other, "Accounts": ACCOUNTS})

    result = run(source)

    assert [r["tenancy_ref"] for r in rows(project, raw())] == ["T1", "T2", "T3"]
    assert any("loaded sheet 'Accounts'" in note for note in result.notes)


def test_no_sheet_with_the_columns_lists_each_sheets_columns(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.xlsx"], excel={"sheet_containing": ["tenancy_ref", "rent"]})
    _workbook(inbox(project) / "r.xlsx", {"Cover": COVER, "Accounts": ACCOUNTS})

    with pytest.raises(IngestError) as info:
        run(source)

    message = str(info.value)
    assert "r.xlsx: no sheet has the columns tenancy_ref, rent" in message
    assert "sheet 'Accounts': tenancy_ref, tenant, balance" in message
    assert "sheet 'Cover': rent_accounts_january_2026" in message
    assert "`excel.sheet_containing` in sources/housing/rent_accounts.yaml" in message


def test_workbook_without_a_table_says_so(project: Project, make_source: MakeSource) -> None:
    source = make_source(patterns=["*.xlsx"])
    _workbook(inbox(project) / "r.xlsx", {"Cover": COVER[:1]})

    with pytest.raises(IngestError, match=r"r\.xlsx: no sheet looks like a table"):
        run(source)


def test_sheet_and_sheet_containing_together_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="either `sheet` or `sheet_containing`"):
        ExcelOptions(sheet="Accounts", sheet_containing=["ref"])


def test_a_month_with_no_rows_loads_nothing_and_does_not_fail(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.xlsx"])
    folder = inbox(project)
    _workbook(folder / "jan.xlsx", {"Cover": COVER, "Accounts": ACCOUNTS})
    run(source)
    _workbook(folder / "feb.xlsx", {"Accounts": [["Rent accounts report"], ACCOUNTS[3]]})

    result = run(source)

    assert result.rows_in == 0
    assert {f["path"].rsplit("/", 1)[-1]: f["rows_loaded"] for f in project.store.loaded_files()}[
        "feb.xlsx"
    ] == 0


def test_a_one_column_sheet_is_a_table_when_nothing_wider_is(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.xlsx"])
    _workbook(inbox(project) / "refs.xlsx", {"Refs": [["Tenancy Ref"], ["T1"], ["T2"]]})

    run(source)

    assert [r["tenancy_ref"] for r in rows(project, raw())] == ["T1", "T2"]


def test_a_header_repeating_a_name_is_still_the_header(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["*.xlsx"])
    sheet = [["Ref", "Amount", "Amount"], ["T1", 1, 2], ["T2", 3, 4]]
    _workbook(inbox(project) / "r.xlsx", {"Payments": sheet})

    run(source)

    assert [(r["ref"], r["amount"], r["amount_1"]) for r in rows(project, raw())] == [
        ("T1", 1, 2),
        ("T2", 3, 4),
    ]


def test_a_name_that_starts_with_total_is_data(project: Project, make_source: MakeSource) -> None:
    source = make_source(patterns=["*.xlsx"])
    sheet = [["Supplier", "Town"], ["Total Housing Ltd", "Leeds"], ["Sum & Co", None], ["Total"]]
    _workbook(inbox(project) / "r.xlsx", {"Suppliers": sheet})

    run(source)

    assert [r["supplier"] for r in rows(project, raw())] == ["Total Housing Ltd", "Sum & Co"]
    assert [r["reason"] for r in rows(project, rejected())] == ["footer row 'Total'"]
