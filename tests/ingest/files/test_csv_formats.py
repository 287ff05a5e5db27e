"""CSV exports the way UK councils' systems write them: thousands separators, UK dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from civiclake import Project
from civiclake.ingest.files.config import CsvOptions

from ._support import inbox, raw, rejected, rows, run
from .conftest import MakeSource

UK = (
    "Tenancy Ref,Balance,Opened,Last Paid\n"
    'T1,"1,234.50",03/04/2026,03/04/2026 14:05\n'
    "T2,12,13/12/2025,13/12/2025 09:00\n"
    'T3,"12,000",01/01/2026,01/01/2026 00:00\n'
)


def test_thousands_separator_loads_amounts_as_numbers(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(csv={"thousands": ","})
    (inbox(project) / "rent.csv").write_text(UK, encoding="utf-8")

    run(source)

    assert [r["balance"] for r in rows(project, raw())] == [1234.5, 12.0, 12000.0]


def test_thousands_separator_with_a_decimal_override_and_a_bad_value(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(csv={"thousands": ","}, columns={"balance": "DECIMAL(12,2)"})
    (inbox(project) / "rent.csv").write_text(
        'ref,balance\nT1,"1,234.50"\nT2,n/a\nT3,"2,000"\n', encoding="utf-8"
    )

    result = run(source)

    assert [(r["ref"], r["balance"]) for r in rows(project, raw())] == [
        ("T1", Decimal("1234.50")),
        ("T3", Decimal("2000.00")),
    ]
    (bad,) = rows(project, rejected())
    assert (bad["_source_row"], bad["column_name"], bad["error_type"]) == (3, "balance", "CAST")
    assert '"n/a"' in bad["reason"]
    assert result.rows_rejected == 1


def test_uk_date_and_timestamp_formats(project: Project, make_source: MakeSource) -> None:
    source = make_source(
        csv={"thousands": ",", "date_format": "%d/%m/%Y", "timestamp_format": "%d/%m/%Y %H:%M"}
    )
    (inbox(project) / "rent.csv").write_text(UK, encoding="utf-8")

    run(source)

    loaded = rows(project, raw())
    assert [r["opened"] for r in loaded] == [
        dt.date(2026, 4, 3),
        dt.date(2025, 12, 13),
        dt.date(2026, 1, 1),
    ]
    assert loaded[0]["last_paid"] == dt.datetime(2026, 4, 3, 14, 5)


def test_a_date_that_does_not_fit_the_format_rejects_its_row(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(csv={"date_format": "%d/%m/%Y"}, columns={"opened": "DATE"})
    (inbox(project) / "rent.csv").write_text(
        "ref,opened\nT1,03/04/2026\nT2,2026-13-45\nT3,31/12/2025\n", encoding="utf-8"
    )

    result = run(source)

    assert [(r["ref"], r["opened"]) for r in rows(project, raw())] == [
        ("T1", dt.date(2026, 4, 3)),
        ("T3", dt.date(2025, 12, 31)),
    ]
    (bad,) = rows(project, rejected())
    assert (bad["_source_row"], bad["column_name"]) == (3, "opened")
    assert "2026-13-45" in bad["reason"] and "%d/%m/%Y" in bad["reason"]
    assert result.rows_rejected == 1


def test_a_date_format_without_codes_says_how_to_write_one() -> None:
    with pytest.raises(ValidationError, match="write it like `%d/%m/%Y`"):
        CsvOptions(date_format="dd/mm/yyyy")
