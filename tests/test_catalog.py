"""The catalog: the one door datasets are written through."""

from __future__ import annotations

import pyarrow as pa

from civiclake import Project


def test_write_records_the_table_in_the_catalog(project: Project) -> None:
    ref = project.dataset("housing", "raw", "rents")
    project.catalog.write(
        ref,
        pa.table({"id": [1, 2], "tenant": ["a", "b"]}),
        mode="overwrite",
        producer="test",
        key=["id"],
        pii=["tenant"],
        owner="housing-data@council.example",
    )
    (row,) = [r for r in project.store.datasets() if r["qualified_name"] == ref.qualified]
    assert row["row_count"] == 2
    assert row["pii"] == ["tenant"] and row["key"] == ["id"]
    assert [c["name"] for c in row["columns"]] == ["id", "tenant"]
    assert project.catalog.datasets() == [ref]


def test_write_once_writes_an_application_transaction_exactly_once(project: Project) -> None:
    ref = project.dataset("housing", "raw", "rents")
    rows = pa.table({"id": [1, 2]})
    first = project.catalog.write_once(ref, rows, app_id="file:abc", producer="test")
    again = project.catalog.write_once(ref, rows, app_id="file:abc", producer="test")
    other = project.catalog.write_once(ref, rows, app_id="file:def", producer="test")
    assert first is not None and other is not None
    assert again is None
    assert project.catalog.committed(ref, "file:abc")
    assert project.tables.describe(project.catalog.uri(ref)).rows == 4


def test_write_without_registering_leaves_the_entry_to_the_caller(project: Project) -> None:
    ref = project.dataset("housing", "raw", "events")
    project.catalog.write(ref, pa.table({"x": [1]}), mode="append", producer="t", register=False)
    assert project.catalog.datasets() == []
    project.catalog.register(ref, producer="t", description="Events as received")
    assert project.catalog.datasets() == [ref]


def test_merge_upserts_by_key_and_refreshes_the_entry(project: Project) -> None:
    ref = project.dataset("housing", "trusted", "tenancies")
    project.catalog.write(ref, pa.table({"id": [1], "v": ["a"]}), mode="overwrite", producer="t")
    project.catalog.merge(ref, pa.table({"id": [1, 2], "v": ["b", "c"]}), key=["id"], producer="t")
    (row,) = project.store.datasets()
    assert row["row_count"] == 2


def test_forget_removes_entries(project: Project) -> None:
    ref = project.dataset("parking", "raw", "permits")
    project.catalog.write(ref, pa.table({"x": [1]}), mode="overwrite", producer="t")
    project.catalog.forget([ref.qualified])
    assert project.catalog.datasets() == []
