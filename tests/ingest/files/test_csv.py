"""CSV files: typing, names, overrides, bad rows and bad files."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from civiclake import Project
from civiclake.exceptions import ConfigError
from civiclake.ingest.exceptions import IngestError

from ._support import inbox, raw, rejected, rows, run
from .conftest import MakeSource

RENT = (
    "Account Ref,Nom du Locataire,Balance (£),Opened,Arrears\n"
    "A1,José Núñez,12.50,2024-01-02,true\n"
    "A2,Renée Dupont,-3.25,2024-02-03,false\n"
)


def test_csv_loads_typed_rows_with_snake_case_names_and_lineage(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["rent_accounts_*.csv"], key=["account_ref"])
    (inbox(project) / "rent_accounts_2026_01.csv").write_text(RENT, encoding="utf-8")

    result = run(source)

    loaded = rows(project, raw())
    assert [r["nom_du_locataire"] for r in loaded] == ["José Núñez", "Renée Dupont"]
    assert loaded[0]["balance"] == 12.5
    assert loaded[0]["opened"] == dt.date(2024, 1, 2)
    assert loaded[0]["arrears"] is True
    assert [r["_source_row"] for r in loaded] == [2, 3]
    assert loaded[0]["_source_file"].startswith("landing/housing/rent_accounts/20")
    assert loaded[0]["_source_file"].endswith("/rent_accounts_2026_01.csv")
    assert loaded[0]["_imported_at"].tzinfo is not None
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (2, 2, 0)
    assert result.bytes_written > 0
    entry = project.store.dataset("housing_raw.rent_accounts")
    assert entry is not None and entry["key"] == ["account_ref"]


def test_column_override_sets_the_type(project: Project, make_source: MakeSource) -> None:
    source = make_source(columns={"balance": "DECIMAL(12,2)", "account_ref": "VARCHAR"})
    (inbox(project) / "rent.csv").write_text(RENT, encoding="utf-8")

    run(source)

    assert [r["balance"] for r in rows(project, raw())] == [Decimal("12.50"), Decimal("-3.25")]


def test_glob_matches_every_month_and_nothing_else(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(patterns=["rent_accounts_*.csv"])
    folder = inbox(project)
    for month in ("2026_01", "2026_02", "2026_03"):
        (folder / f"rent_accounts_{month}.csv").write_text(RENT + f"X,{month},1,,\n", "utf-8")
    (folder / "other_export.csv").write_text(RENT, encoding="utf-8")
    (folder / "~$rent_accounts_2026_04.csv").write_text("lock", encoding="utf-8")
    (folder / "rent_accounts_2026_05.csv.part").write_text(RENT, encoding="utf-8")

    result = run(source)

    assert result.rows_out == 9
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "other_export.csv",
        "rent_accounts_2026_05.csv.part",
        "~$rent_accounts_2026_04.csv",
    ]


def test_wrong_encoding_fails_the_file_with_the_fix(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source()
    text = "name,amount\nBob,1\nJosé,2\n"
    (inbox(project) / "rent.csv").write_bytes(text.encode("latin-1"))

    with pytest.raises(IngestError) as info:
        run(source)

    message = str(info.value)
    assert "rent.csv, line 3" in message
    assert "set `csv.encoding: latin-1` in sources/housing/rent_accounts.yaml" in message
    assert not project.tables.exists(project.layout.table_uri(raw()))
    assert project.store.loaded_files() == []

    make_source(csv={"encoding": "latin-1"})
    run(make_source(csv={"encoding": "latin-1"}))
    assert [r["name"] for r in rows(project, raw())] == ["Bob", "José"]


def test_ragged_rows_are_rejected_and_good_rows_load(
    project: Project, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source()
    (inbox(project) / "rent.csv").write_text(
        "ref,name,balance\nA1,Ann,1.5\nA2,Bob\nA3,Cy,2.5\nA4,Di,3.5,surprise\nA5,Ed,4.5\n",
        encoding="utf-8",
    )

    result = run(source, caplog)

    assert [(r["ref"], r["_source_row"]) for r in rows(project, raw())] == [
        ("A1", 2),
        ("A3", 4),
        ("A5", 6),
    ]
    bad = rows(project, rejected())
    assert [(r["_source_row"], r["error_type"]) for r in bad] == [
        (3, "MISSING COLUMNS"),
        (5, "TOO MANY COLUMNS"),
    ]
    assert "fewer fields than the header" in bad[0]["reason"]
    assert bad[0]["column_name"] == "balance"
    assert bad[1]["raw_line"] == "A4,Di,3.5,surprise"
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (5, 3, 2)
    assert "rent.csv, row 3, column balance: the row has fewer fields" in caplog.text


def test_type_clash_row_is_rejected_with_its_value(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(columns={"balance": "DOUBLE"})
    (inbox(project) / "rent.csv").write_text(
        'ref,balance\nA1,1.5\n"A2\nsecond line",2\nA3,n/a\nA4,4\n', encoding="utf-8"
    )

    result = run(source)

    assert [(r["ref"], r["_source_row"]) for r in rows(project, raw())] == [
        ("A1", 2),
        ("A2\nsecond line", 3),
        ("A4", 5),
    ]
    (bad,) = rows(project, rejected())
    assert (bad["_source_row"], bad["column_name"], bad["error_type"]) == (4, "balance", "CAST")
    assert '"n/a"' in bad["reason"] and "DOUBLE" in bad["reason"]
    assert result.rows_rejected == 1


def test_skip_rows_and_header_only_file(project: Project, make_source: MakeSource) -> None:
    source = make_source(csv={"skip_rows": 2, "delimiter": ";"}, columns={"n": "INTEGER"})
    folder = inbox(project)
    (folder / "a.csv").write_text("Rent report\nRun 2026-01-31\nref;n\nA1;1\nA2;x\n", "utf-8")
    (folder / "b.csv").write_text("Rent report\nRun 2026-02-28\nref;n\n", "utf-8")

    result = run(source)

    assert [(r["ref"], r["_source_row"]) for r in rows(project, raw())] == [("A1", 4)]
    assert [r["_source_row"] for r in rows(project, rejected())] == [5]
    assert {
        f["path"].rsplit("/", 1)[-1]: f["rows_loaded"] for f in project.store.loaded_files()
    } == {
        "a.csv": 1,
        "b.csv": 0,
    }
    assert result.rows_out == 1


def test_override_of_unknown_column_is_a_config_error(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(columns={"balence": "DOUBLE"})
    (inbox(project) / "rent.csv").write_text(RENT, encoding="utf-8")

    with pytest.raises(ConfigError, match=r"columns\.balence.*did you mean `balance`"):
        run(source)


def test_type_change_across_files_names_both_types(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "jan.csv").write_text("ref,amount,note\nA1,1,x\n", encoding="utf-8")
    run(source)
    (folder / "feb.csv").write_text("ref,amount,note,extra\nA2,1.5,,new\n", encoding="utf-8")
    (folder / "mar.csv").write_text("ref,amount,note\nA3,,7\n", encoding="utf-8")

    with pytest.raises(IngestError) as info:
        run(source)

    message = str(info.value)
    assert "1 of 2 file(s) could not be loaded" in message
    assert "column `amount` is DOUBLE in feb.csv but BIGINT in housing_raw.rent_accounts" in message
    assert "`columns: {amount: BIGINT}`" in message
    # mar.csv still loaded: an empty number column and a number in a text column fit
    assert [(r["ref"], r["amount"], r["note"]) for r in rows(project, raw())] == [
        ("A1", 1, "x"),
        ("A3", None, "7"),
    ]
    assert (folder / "feb.csv").exists()


def test_whole_numbers_after_decimals_still_load(project: Project, make_source: MakeSource) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "jan.csv").write_text("ref,amount\nA1,1.5\n", encoding="utf-8")
    run(source)
    (folder / "feb.csv").write_text("ref,amount,paid_on\nA2,2,2026-02-01\n", encoding="utf-8")

    run(source)

    assert sorted((r["ref"], r["amount"], r["paid_on"]) for r in rows(project, raw())) == [
        ("A1", 1.5, None),
        ("A2", 2.0, dt.date(2026, 2, 1)),
    ]


def test_text_in_a_number_column_fails_that_file_only(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "jan.csv").write_text("ref,amount\nA1,1\n", encoding="utf-8")
    run(source)
    (folder / "feb.csv").write_text("ref,amount\nA2,lots\n", encoding="utf-8")
    (folder / "mar.csv").write_text("ref,amount\nA3,3\n", encoding="utf-8")

    with pytest.raises(IngestError) as info:
        run(source)

    assert "feb.csv: column `amount` holds 'lots', which is not a BIGINT" in str(info.value)
    assert sorted(r["ref"] for r in rows(project, raw())) == ["A1", "A3"]
