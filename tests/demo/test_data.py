"""The demo council's generated landing files and its shipped project files."""

from __future__ import annotations

import ast
import csv
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import duckdb
import fastexcel
import pyarrow as pa
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

import civiclake
from civiclake.demo.data import PERMIT_HEADER, PERMITS_SHEET, RENT_HEADER, generate
from civiclake.naming import column_names

MONTHS = ["2026-08", "2026-09", "2026-10"]
FILES = resources.files("civiclake.demo").joinpath("files")


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    generate(root)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _wards(landing: Path) -> set[str]:
    return {row[0] for row in _csv_rows(landing / "unrestricted/ward_register/wards.csv")[1:]}


def _jobs(suffix: str) -> list[Traversable]:
    jobs = FILES.joinpath("jobs")
    return sorted(
        (f for dept in jobs.iterdir() for f in dept.iterdir() if f.name.endswith(suffix)),
        key=lambda f: f.name,
    )


# -- landing files ---------------------------------------------------------------------
def test_same_seed_writes_identical_files(landing: Path, tmp_path: Path) -> None:
    generate(tmp_path)
    assert _files(tmp_path) == _files(landing)


def test_other_seed_writes_other_data(tmp_path: Path) -> None:
    generate(tmp_path / "a", months=1)
    generate(tmp_path / "b", seed=7, months=1)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys()
    changed = {name for name in a if a[name] != b[name]}
    assert changed == set(a) - {"unrestricted/bank_holiday_calendar/bank_holidays.csv"}


def test_expected_files_per_month(landing: Path, tmp_path: Path) -> None:
    written = generate(tmp_path, months=2)
    assert {k: [p.name for p in v] for k, v in written.items()} == {
        "unrestricted/ward_register": ["wards.csv"],
        "unrestricted/bank_holiday_calendar": ["bank_holidays.csv"],
        "housing/rent_exports": ["rent_accounts_2026-09.csv", "rent_accounts_2026-10.csv"],
        "parking/permit_exports": ["permits_2026-09.xlsx", "permits_2026-10.xlsx"],
    }
    assert sorted(_files(landing)) == sorted(
        [
            "unrestricted/ward_register/wards.csv",
            "unrestricted/bank_holiday_calendar/bank_holidays.csv",
            *(f"housing/rent_exports/rent_accounts_{m}.csv" for m in MONTHS),
            *(f"parking/permit_exports/permits_{m}.xlsx" for m in MONTHS),
        ]
    )


def test_months_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(tmp_path, months=0)


def test_bank_holidays_are_the_shipped_reference(landing: Path) -> None:
    shipped = resources.files("civiclake.demo").joinpath("reference", "bank_holidays.csv")
    written = landing / "unrestricted/bank_holiday_calendar/bank_holidays.csv"
    assert written.read_bytes() == shipped.read_bytes()
    assert written.read_text(encoding="utf-8").startswith("date,title\n")


def test_wards(landing: Path) -> None:
    rows = _csv_rows(landing / "unrestricted/ward_register/wards.csv")
    assert rows[0] == ["Ward Code", "Ward Name", "Population", "Area (hectares)"]
    assert len(rows) - 1 == 20
    assert len(_wards(landing)) == 20
    assert all(int(r[2]) > 0 and float(r[3]) > 0 for r in rows[1:])


@pytest.mark.parametrize("month", MONTHS)
def test_only_the_last_rent_file_has_the_two_bad_rows(landing: Path, month: str) -> None:
    rows = _csv_rows(landing / f"housing/rent_exports/rent_accounts_{month}.csv")
    assert rows[0] == list(RENT_HEADER)
    assert 3800 <= len(rows) - 1 <= 4200
    balance = RENT_HEADER.index("Balance (£)")
    ragged = [r for r in rows if len(r) != len(RENT_HEADER)]
    text = [r for r in rows[1:] if len(r) == len(RENT_HEADER) and r[balance] == "n/a"]
    if month == MONTHS[-1]:
        assert len(ragged) == 1 and len(text) == 1
    else:
        assert ragged == [] and text == []
        assert all(float(r[balance]) == float(r[balance]) for r in rows[1:])


def test_rent_balances_change_and_tenancies_come_and_go(landing: Path) -> None:
    first, last = (
        {r[0]: r for r in _csv_rows(landing / f"housing/rent_exports/rent_accounts_{m}.csv")[1:]}
        for m in (MONTHS[0], MONTHS[-1])
    )
    assert first.keys() - last.keys(), "no tenancy ended"
    assert last.keys() - first.keys(), "no tenancy started"
    both = first.keys() & last.keys()
    assert sum(first[k][5] != last[k][5] for k in both) > len(both) / 2


@pytest.mark.parametrize("month", MONTHS)
def test_permit_workbooks_open_with_fastexcel(landing: Path, month: str) -> None:
    reader = fastexcel.read_excel(landing / f"parking/permit_exports/permits_{month}.xlsx")
    assert reader.sheet_names == [PERMITS_SHEET]
    sheet = reader.load_sheet(PERMITS_SHEET)
    assert [c.name for c in sheet.available_columns()] == list(PERMIT_HEADER)
    assert 1200 <= sheet.height <= 1800
    types = {c.name: c.dtype for c in sheet.available_columns()}
    assert types["Issue Date"] == types["Expiry Date"] == "datetime"
    assert types["Fee (£)"] == "float"
    table = sheet.to_arrow()
    assert set(table.column("Status").to_pylist()) == {"Active", "Expired", "Cancelled"}
    assert set(table.column("Permit Type").to_pylist()) == {
        "Resident",
        "Business",
        "Visitor",
        "Doctor",
        "Carer",
    }


def test_ward_codes_match_the_wards_file(landing: Path) -> None:
    wards = _wards(landing)
    used: set[str] = set()
    for month in MONTHS:
        rows = _csv_rows(landing / f"housing/rent_exports/rent_accounts_{month}.csv")
        used |= {r[3].strip().upper() for r in rows[1:] if len(r) == len(RENT_HEADER)}
        sheet = fastexcel.read_excel(landing / f"parking/permit_exports/permits_{month}.xlsx")
        used |= set(sheet.load_sheet(PERMITS_SHEET).to_arrow().column("Ward Code").to_pylist())
    assert used == wards


def test_names_have_accents(landing: Path) -> None:
    text = (landing / f"housing/rent_exports/rent_accounts_{MONTHS[-1]}.csv").read_text("utf-8")
    assert any(name in text for name in ("Zoë", "José", "Siobhán"))


# -- project files -----------------------------------------------------------------------
def test_package_ships_sources_and_jobs() -> None:
    sources = {
        f"{d.name}/{f.name}" for d in FILES.joinpath("sources").iterdir() for f in d.iterdir()
    }
    assert sources == {
        "housing/rent_exports.yaml",
        "parking/permit_exports.yaml",
        "unrestricted/ward_register.yaml",
        "unrestricted/bank_holiday_calendar.yaml",
        "planning/planning_api.yaml",
        "housing-repairs/drs.yaml",
    }
    assert len(_jobs(".sql")) + len(_jobs(".py")) >= 5


@pytest.mark.parametrize("job", _jobs(".sql"), ids=lambda f: f.name)
def test_job_sql_parses_and_transpiles_to_spark(job: Traversable) -> None:
    text = job.read_text(encoding="utf-8")
    header = [line for line in text.splitlines()[:6] if line.startswith("-- ")]
    keys = {line[3:].split(":", 1)[0] for line in header}
    assert {"zone", "key", "description"} <= keys
    sqlglot.parse_one(text, read="duckdb")
    (spark,) = sqlglot.transpile(
        text, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE
    )
    assert "QUALIFY" not in spark.upper()


def _load_python_job(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import the demo's Python job with a stand-in ``civiclake.job`` that records options."""

    def job(**options: Any) -> Any:
        def decorate(function: Any) -> Any:
            function.options = options
            return function

        return decorate

    monkeypatch.setattr(civiclake, "job", job, raising=False)
    (path,) = _jobs(".py")
    namespace: dict[str, Any] = {"__name__": "demo_job"}
    exec(compile(path.read_text(encoding="utf-8"), path.name, "exec"), namespace)
    return namespace["permits_by_ward"]


def test_python_job_is_valid_and_fills_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    (path,) = _jobs(".py")
    ast.parse(path.read_text(encoding="utf-8"))
    permits_by_ward = _load_python_job(monkeypatch)
    assert permits_by_ward.options["zone"] == "trusted"
    con = duckdb.connect()
    permits = con.sql(
        "SELECT * FROM (VALUES ('RV01', 'Resident', 'active', 120.0), "
        "('RV01', 'Carer', 'expired', 0.0), ('RV01', 'Resident', 'active', 80.0)) "
        "AS t(ward_code, permit_type, status, fee)"
    )
    wards = con.sql(
        "SELECT * FROM (VALUES ('RV01', 'Abbey Fields', 10000), ('RV02', 'Dockside', 5000)) "
        "AS t(ward_code, ward_name, population)"
    )
    rows = permits_by_ward(permits, wards).fetchall()
    assert [(r[0], r[2], r[3], float(r[4])) for r in rows] == [
        ("RV01", "Carer", 0, 0.0),
        ("RV01", "Resident", 2, 200.0),
        ("RV02", "Carer", 0, 0.0),
        ("RV02", "Resident", 0, 0.0),
    ]


def test_jobs_run_on_the_generated_data(landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every job, in dependency order, on raw views built the way a files source would."""
    con = duckdb.connect()
    for dept in ("housing", "parking", "unrestricted"):
        for zone in ("raw", "refined", "trusted"):
            con.sql(f"CREATE SCHEMA {dept}_{zone}")
    for dept, folder, source in [
        ("unrestricted", "ward_register", "wards"),
        ("unrestricted", "bank_holiday_calendar", "bank_holidays"),
        ("housing", "rent_exports", "rent_accounts"),
    ]:
        parts = []
        for path in sorted((landing / dept / folder).glob("*.csv")):
            names = column_names(_csv_rows(path)[0])
            types = {"balance": "DOUBLE"} if "balance" in names else None
            rel = con.read_csv(str(path), header=True, names=names, dtype=types, store_rejects=True)
            parts.append(_with_lineage(rel.arrow().read_all(), path))
        _register(con, f"{dept}_raw.{source}", pa.concat_tables(parts))
    # rent exports are full exports: raw is their history, one version per month seen
    con.sql(
        "CREATE VIEW housing_raw.rent_accounts__history AS SELECT *, "
        "CAST(regexp_extract(_source_file, '(\\d{4}-\\d{2})', 1) || '-01' AS TIMESTAMP) "
        "AS valid_from, CASE WHEN _source_file = (SELECT max(_source_file) FROM "
        "housing_raw.rent_accounts) THEN NULL ELSE TIMESTAMP '9999-01-01' END AS valid_to "
        "FROM housing_raw.rent_accounts"
    )
    parts = []
    for path in sorted((landing / "parking/permit_exports").glob("*.xlsx")):
        batch = fastexcel.read_excel(path).load_sheet(PERMITS_SHEET).to_arrow()
        table = pa.Table.from_batches([batch])
        parts.append(_with_lineage(table.rename_columns(column_names(table.column_names)), path))
    _register(con, "parking_raw.permits", pa.concat_tables(parts))
    assert con.sql("SELECT count(*) FROM reject_errors").fetchall() != [(0,)]

    order = ["wards", "bank_holidays", "rent_accounts", "permits", "arrears_by_ward"]
    order.append("rent_collection_days")
    sql = {
        f.name.removesuffix(".sql"): (dept.name, f)
        for dept in FILES.joinpath("jobs").iterdir()
        for f in dept.iterdir()
        if f.name.endswith(".sql")
    }
    for name in order:
        dept, job = sql[name]
        text = job.read_text(encoding="utf-8")
        zone = text.splitlines()[0].split(":")[1].strip()
        key = text.splitlines()[1].split(":")[1].strip()
        table = con.sql(text).arrow().read_all()
        assert table.num_rows > 0, name
        assert len(set(table.column(key).to_pylist())) == table.num_rows, f"{name}: key repeats"
        _register(con, f"{dept}_{zone}.{name}", table)
    permits_by_ward = _load_python_job(monkeypatch)
    result = permits_by_ward(
        con.table("parking_refined.permits"), con.table("unrestricted_refined.wards")
    )
    assert len(result.fetchall()) == 20 * 5
    ((tenancies, in_arrears),) = con.sql(
        "SELECT sum(tenancies), sum(tenancies_in_arrears) FROM housing_trusted.arrears_by_ward"
    ).fetchall()
    assert 3800 <= tenancies <= 4200 and 0 < in_arrears < tenancies


def _with_lineage(table: pa.Table, path: Path) -> pa.Table:
    rows = table.num_rows
    table = table.append_column("_source_file", pa.array([path.name] * rows))
    table = table.append_column("_source_row", pa.array(range(2, rows + 2), pa.int64()))
    return table.append_column("_imported_at", pa.array([path.name] * rows))


def _register(con: duckdb.DuckDBPyConnection, qualified: str, table: pa.Table) -> None:
    view = qualified.replace(".", "__")
    con.register(view, table)
    con.sql(f"CREATE VIEW {qualified} AS SELECT * FROM {view}")
