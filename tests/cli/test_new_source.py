"""`civiclake new source`: a sample export becomes a queryable table with history, in one
command (or two, with `--no-load` and `civiclake run`)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from civiclake import Project, init_project

from ._support import cli


@pytest.fixture
def council(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    return init_project(tmp_path / "council", departments=["housing"])


def _exported_an_hour_ago(path: Path) -> Path:
    """An export saved a while ago (not a file still being written)."""
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


def _table(root: Path, name: str) -> list[dict[str, Any]]:
    """The dataset ``name`` wherever the source put it, as a reader sees it."""
    project = Project.load(root)
    refs = [r for r in project.catalog.datasets() if r.name == name]
    assert len(refs) == 1, project.catalog.datasets()
    session = project.engine().session()
    try:
        session.register(refs)
        reader = session.sql(f"SELECT * FROM {refs[0].qualified} ORDER BY 1")
        return reader.read_all().to_pylist()
    finally:
        session.close()


def test_a_csv_export_becomes_a_table_with_history_in_one_command(
    council: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "rent_accounts_2026-03.csv"
    sample.write_text(
        "Tenancy Ref,Tenant Name,Email,Balance\n"
        + "".join(f"T{i},Person {i},p{i}@example.org,{i}.50\n" for i in range(1, 21))
    )
    _exported_an_hour_ago(sample)
    code, out = cli(
        capsys, "new", "source", "housing/rent_accounts", str(sample), "-p", str(council)
    )
    assert code == 0, out
    flat = " ".join(out.split())
    assert "Wrote sources/housing/rent_accounts.yaml (csv, 20 rows)" in flat
    assert (
        "pattern rent_accounts_{month:%Y-%m}.csv, key tenancy_ref, PII tenant_name, email" in flat
    )
    assert "Copied rent_accounts_2026-03.csv to data/landing/housing/rent_accounts/" in flat
    assert 'Loaded. Query it: `civiclake query "SELECT * FROM housing_raw.rent_accounts' in flat
    rows = _table(council, "rent_accounts")
    assert len(rows) == 20
    assert {r["tenancy_ref"] for r in rows} == {f"T{i}" for i in range(1, 21)}
    assert rows[0]["email"] == "p1@example.org" and float(rows[0]["balance"]) == 1.5
    # a full export keyed by tenancy_ref: history, dated by the month in the name
    code, out = cli(
        capsys,
        "query",
        "SELECT count(*) AS n FROM housing_raw.rent_accounts_as_of(DATE '2026-03-01')",
        "--format",
        "csv",
        "-p",
        str(council),
    )
    assert code == 0 and out.split() == ['"n"', "20"], out


def test_an_excel_export_becomes_a_table_in_two_commands_with_no_load(
    council: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wb = openpyxl.Workbook()
    cover = wb.active
    assert cover is not None
    cover.title = "About"
    cover.append(["Repairs completed, March 2026"])
    sheet = wb.create_sheet("Repairs")
    sheet.append(["Job Number", "Completed", "Cost"])
    for i in range(1, 9):
        sheet.append([f"J{i:03d}", dt.date(2026, 3, i), 100 + i])
    sample = tmp_path / "repairs_Mar2026.xlsx"
    wb.save(sample)
    _exported_an_hour_ago(sample)
    code, out = cli(
        capsys, "new", "source", "housing/repairs", str(sample), "--no-load", "-p", str(council)
    )
    assert code == 0, out
    assert "`civiclake run --select housing/repairs`" in " ".join(out.split())
    text = (council / "sources/housing/repairs.yaml").read_text()
    assert 'sheet: "Repairs"' in text and "key: [job_number]" in text
    code, out = cli(capsys, "run", "--select", "housing/repairs", "-p", str(council))
    assert code == 0, out
    rows = _table(council, "repairs")
    assert [(r["job_number"], r["completed"], r["cost"]) for r in rows] == [
        (f"J{i:03d}", dt.datetime(2026, 3, i), 100.0 + i) for i in range(1, 9)
    ]  # Excel stores dates as date-times and numbers as floats


def test_an_existing_source_file_is_not_overwritten(
    council: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "rents.csv"
    sample.write_text("ref,amount\nA,1\nB,2\n")
    args = ("new", "source", "housing/rents", str(sample), "-p", str(council))
    assert cli(capsys, *args)[0] == 0
    code, out = cli(capsys, *args)
    assert code != 0
    assert "sources/housing/rents.yaml already exists" in " ".join(out.split())
    assert cli(capsys, *args, "--force")[0] == 0
