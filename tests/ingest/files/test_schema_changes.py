"""A monthly export's columns change: renamed columns and type overrides on a table
that already holds earlier months."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from civiclake import Project
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files.config import FilesSourceConfig

from ._support import inbox, raw, rejected, rows, run
from .conftest import MakeSource

RENAME = "`renames: {tenancy_reference: tenancy_ref}`"


def _columns(project: Project) -> list[str]:
    schema = project.tables.schema(project.layout.table_uri(raw()))
    assert schema is not None
    return [n for n in schema.names if not n.startswith("_")]


def _changes(project: Project) -> list[tuple[Any, ...]]:
    return [
        (c["change"], c["column_name"], c["old_type"], c["new_type"])
        for c in project.store.schema_changes("housing_raw.rent_accounts")
    ]


def test_a_renamed_column_without_renames_is_noted_with_the_line_to_add(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "jan.csv").write_text("tenancy_reference,balance\nT1,10\n", encoding="utf-8")
    run(source)
    (folder / "feb.csv").write_text("Tenancy Ref,balance\nT2,20\n", encoding="utf-8")

    result = run(source)

    assert (
        "feb.csv: column `tenancy_reference` of housing_raw.rent_accounts is missing and "
        f"`tenancy_ref` (VARCHAR) is new; if it was renamed, add {RENAME} to "
        "sources/housing/rent_accounts.yaml" in result.notes
    )


def test_renames_move_earlier_rows_into_the_new_name_and_record_it(
    project: Project, make_source: MakeSource
) -> None:
    folder = inbox(project)
    (folder / "jan.csv").write_text("tenancy_reference,balance\nT1,10\n", encoding="utf-8")
    run(make_source())
    (folder / "feb.csv").write_text("tenancy_ref,balance\nT2,20\n", encoding="utf-8")
    run(make_source())  # before the fix: a second column
    assert _columns(project) == ["tenancy_reference", "balance", "tenancy_ref"]
    source = make_source(renames={"Tenancy Reference": "tenancy_ref"})
    (folder / "mar.csv").write_text("tenancy_ref,balance\nT3,30\n", encoding="utf-8")
    (folder / "dec.csv").write_text("tenancy_reference,balance\nT0,5\n", encoding="utf-8")

    result = run(source)

    assert _columns(project) == ["tenancy_ref", "balance"]
    assert sorted(r["tenancy_ref"] for r in rows(project, raw())) == ["T0", "T1", "T2", "T3"]
    assert _changes(project) == [("renamed", "tenancy_ref", "VARCHAR", "VARCHAR")]
    assert any(
        "housing_raw.rent_accounts: column `tenancy_reference` renamed to `tenancy_ref`" in note
        for note in result.notes
    )
    assert result.rows_rejected == 0
    # the rewrite kept the exactly-once marks of the files loaded before it
    for loaded in project.store.loaded_files():
        assert project.catalog.committed(raw(), f"file:{loaded['sha256']}")


def test_a_rename_whose_old_and_new_column_are_both_in_a_file_fails_that_file(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(renames={"tenancy_reference": "tenancy_ref"})
    (inbox(project) / "r.csv").write_text("tenancy_reference,tenancy_ref\nT1,T1\n", "utf-8")

    with pytest.raises(IngestError) as info:
        run(source)

    assert (
        "r.csv has both `tenancy_reference` and `tenancy_ref`, which `renames:` in "
        "sources/housing/rent_accounts.yaml makes one column" in str(info.value)
    )


def test_type_override_migrates_a_text_column_whose_values_all_cast(
    project: Project, make_source: MakeSource
) -> None:
    folder = inbox(project)
    (folder / "jan.csv").write_text("ref,amount\nA1,12\nA2,7.5\nA3,\n", encoding="utf-8")
    run(make_source(columns={"amount": "VARCHAR"}))
    source = make_source(columns={"amount": "DOUBLE"})
    (folder / "feb.csv").write_text("ref,amount\nB1,3\nB2,n/a\n", encoding="utf-8")

    result = run(source)

    schema = project.tables.schema(project.layout.table_uri(raw()))
    assert schema is not None and str(schema.field("amount").type) == "double"
    assert sorted((r["ref"], r["amount"]) for r in rows(project, raw())) == [
        ("A1", 12.0),
        ("A2", 7.5),
        ("A3", None),
        ("B1", 3.0),
    ]
    assert [r["_source_row"] for r in rows(project, rejected())] == [3]
    assert _changes(project) == [("retyped", "amount", "VARCHAR", "DOUBLE")]
    assert any("column `amount` changed from VARCHAR to DOUBLE" in n for n in result.notes)


def test_type_override_that_stored_values_do_not_fit_says_which_and_changes_nothing(
    project: Project, make_source: MakeSource
) -> None:
    folder = inbox(project)
    (folder / "jan.csv").write_text("ref,amount\nA1,12\nA2,tbc\nA3,n/a\nA4,n/a\n", encoding="utf-8")
    run(make_source())
    source = make_source(columns={"amount": "DOUBLE"})
    (folder / "feb.csv").write_text("ref,amount\nB1,3\n", encoding="utf-8")

    with pytest.raises(IngestError) as info:
        run(source)

    message = str(info.value)
    assert (
        "housing_raw.rent_accounts: column `amount` is VARCHAR, and `columns: {amount: DOUBLE}` "
        "in sources/housing/rent_accounts.yaml asks for DOUBLE, but 3 of its 4 stored values "
        "are not DOUBLE (e.g. 'n/a', 'tbc')" in message
    )
    assert "Nothing was changed and feb.csv was not loaded" in message
    assert "remove `amount` from `columns:`" in message
    assert sorted(r["ref"] for r in rows(project, raw())) == ["A1", "A2", "A3", "A4"]
    assert _changes(project) == []
    assert (folder / "feb.csv").exists()


def test_renames_set_before_the_new_name_arrives_rename_the_stored_column(
    project: Project, make_source: MakeSource
) -> None:
    folder = inbox(project)
    (folder / "jan.csv").write_text("tenancy_reference,balance\nT1,10\n", encoding="utf-8")
    run(make_source())
    source = make_source(renames={"tenancy_reference": "tenancy_ref"})
    (folder / "feb.csv").write_text("tenancy_ref,balance\nT2,20\n", encoding="utf-8")

    result = run(source)

    assert _columns(project) == ["tenancy_ref", "balance"]
    assert sorted(r["tenancy_ref"] for r in rows(project, raw())) == ["T1", "T2"]
    assert _changes(project) == [("renamed", "tenancy_ref", "VARCHAR", "VARCHAR")]
    assert not any("if it was renamed" in note for note in result.notes)
    run(source)  # nothing left to migrate: no second change
    assert len(_changes(project)) == 1


def test_renames_in_config_are_normalised_and_chains_refused() -> None:
    config = FilesSourceConfig(renames={"Tenancy Reference": "Tenancy Ref"})
    assert config.renames == {"tenancy_reference": "tenancy_ref"}
    with pytest.raises(ValidationError, match="map every old name straight to the current one"):
        FilesSourceConfig(renames={"a": "b", "b": "c"})
