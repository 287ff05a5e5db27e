"""Delta tables: atomic writes, schema evolution, idempotency markers, readable file lists."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from civiclake.storage import DatasetRef, Layout, TableStore
from civiclake.storage.exceptions import StorageError, UnsupportedTableFeatureError


@pytest.fixture
def store() -> TableStore:
    return TableStore()


def test_layout_puts_tables_under_zone_department_dataset(tmp_path: Path) -> None:
    layout = Layout("data", tmp_path)
    ref = DatasetRef("housing-repairs", "raw", "work_orders")
    assert layout.table_uri(ref) == f"{tmp_path.resolve()}/data/raw/housing-repairs/work_orders"
    assert layout.landing_archive("housing", "rent", "2026-11-27").endswith(
        "/data/landing/housing/rent/2026-11-27"
    )
    s3 = Layout("s3://council-lake/prod/")
    assert not s3.is_local
    assert s3.table_uri(ref) == "s3://council-lake/prod/raw/housing-repairs/work_orders"


def test_append_evolves_schema_and_reports_what_it_wrote(tmp_path: Path, store: TableStore) -> None:
    uri = str(tmp_path / "t")
    first = store.write(uri, pa.table({"id": [1, 2], "name": ["a", "b"]}), mode="overwrite")
    assert (first.version, first.rows, first.files_added) == (0, 2, 1)
    assert first.bytes_written > 0
    second = store.write(uri, pa.table({"id": [3], "extra": [1.5]}), mode="append")
    assert second.rows == 1
    table = store.read(uri).sort_by("id")
    assert table.column_names == ["id", "name", "extra"]
    assert table.column("extra").to_pylist() == [None, None, 1.5]


def test_application_transaction_marks_a_write_as_done(tmp_path: Path, store: TableStore) -> None:
    uri = str(tmp_path / "t")
    assert store.committed_version(uri, "file:abc") is None
    store.write(uri, pa.table({"id": [1]}), mode="append", app_id="file:abc")
    assert store.committed_version(uri, "file:abc") == 1
    assert store.committed_version(uri, "file:other") is None


def test_scan_files_lists_only_live_files(tmp_path: Path, store: TableStore) -> None:
    uri = str(tmp_path / "t")
    store.write(uri, pa.table({"id": [1]}), mode="overwrite")
    store.write(uri, pa.table({"id": [2]}), mode="overwrite")
    files = store.scan_files(uri)
    assert len(files.uris) == 1
    assert store.read(uri).column("id").to_pylist() == [2]


def test_tables_with_deletion_vectors_are_refused(tmp_path: Path, store: TableStore) -> None:
    uri = str(tmp_path / "dv")
    store.write(uri, pa.table({"id": [1]}), mode="overwrite")
    DeltaTable(uri).alter.set_table_properties({"delta.enableDeletionVectors": "true"})
    with pytest.raises(UnsupportedTableFeatureError, match="deletionVectors"):
        store.scan_files(uri)


def test_opening_a_missing_table_is_a_clear_error(tmp_path: Path, store: TableStore) -> None:
    with pytest.raises(StorageError, match="no Delta table at"):
        store.open(str(tmp_path / "missing"))


def test_data_files_are_compressed_in_duckdb_sized_row_groups(
    tmp_path: Path, store: TableStore
) -> None:
    import pyarrow.parquet as pq

    from civiclake.storage.delta import ROW_GROUP_ROWS

    uri = str(tmp_path / "t")
    store.write(uri, pa.table({"id": list(range(ROW_GROUP_ROWS + 10))}), mode="overwrite")
    [path] = store.scan_files(uri).uris
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 2
    assert meta.row_group(0).column(0).compression == "SNAPPY"


def test_overwrite_replaces_rows_and_schema(tmp_path: Path, store: TableStore) -> None:
    uri = str(tmp_path / "t")
    store.write(uri, pa.table({"id": [1, 2]}), mode="overwrite")
    store.write(uri, pa.table({"code": ["a"]}), mode="overwrite")
    assert store.read(uri).to_pylist() == [{"code": "a"}]


def test_types_delta_cannot_store_as_is_still_write(tmp_path: Path, store: TableStore) -> None:
    uri = str(tmp_path / "t")
    table = pa.table({"small": pa.array([1, 2], pa.uint8()), "ns": pa.array([0, 1], pa.int64())})
    result = store.write(uri, table, mode="overwrite")
    assert result.rows == 2
    assert store.read(uri).column("small").to_pylist() == [1, 2]


def test_a_stream_that_fails_leaves_nothing_behind(tmp_path: Path, store: TableStore) -> None:
    uri = tmp_path / "t"
    store.write(str(uri), pa.table({"id": [1]}), mode="overwrite")
    files_before = sorted(p.name for p in uri.glob("*.parquet"))
    schema = pa.schema([("id", pa.int64())])

    def batches():  # type: ignore[no-untyped-def]
        yield pa.record_batch([pa.array([2])], schema=schema)
        raise RuntimeError("the source went away")

    with pytest.raises(Exception, match="the source went away"):
        store.write(str(uri), pa.RecordBatchReader.from_batches(schema, batches()), mode="append")
    assert sorted(p.name for p in uri.glob("*.parquet")) == files_before
    assert store.read(str(uri)).column("id").to_pylist() == [1]


def test_constants_become_trailing_columns_on_both_write_paths(
    tmp_path: Path, store: TableStore
) -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    constants = {"_import_id": "imp-1", "_imported_at": when}
    local = str(tmp_path / "local")
    store.write(local, pa.table({"id": [1, 2]}), mode="overwrite", constants=constants)
    partitioned = str(tmp_path / "partitioned")
    store.write(
        partitioned,
        pa.table({"id": [1, 2], "p": ["a", "b"]}),
        mode="overwrite",
        partition_by=["p"],
        constants=constants,
    )
    for uri in (local, partitioned):
        table = store.read(uri)
        assert table.column("_import_id").to_pylist() == ["imp-1", "imp-1"]
        assert table.column("_imported_at").to_pylist() == [when, when]
        assert table.schema.field("_imported_at").type == pa.timestamp("us", tz="UTC")
    assert store.read(local).column_names == ["id", "_import_id", "_imported_at"]


def test_describe_reads_version_schema_and_rows_from_the_log(
    tmp_path: Path, store: TableStore
) -> None:
    uri = str(tmp_path / "t")
    store.write(uri, pa.table({"id": [1, 2]}), mode="overwrite")
    store.write(uri, pa.table({"id": [3]}), mode="append")
    info = store.describe(uri)
    assert (info.version, info.rows, info.schema.names) == (1, 3, ["id"])
    assert store.schema(str(tmp_path / "missing")) is None


def test_merge_upserts_by_key_and_counts_what_it_did(tmp_path: Path, store: TableStore) -> None:
    uri = str(tmp_path / "t")
    store.write(uri, pa.table({"id": [1, 2], "v": ["a", "b"]}), mode="overwrite")
    result = store.merge(uri, pa.table({"id": [2, 3], "v": ["B", "c"], "new": [1, 2]}), ["id"])
    assert (result.inserted, result.updated, result.rows) == (1, 1, 2)
    assert result.bytes_written > 0
    rows = sorted(store.read(uri).to_pylist(), key=lambda r: r["id"])
    assert rows == [
        {"id": 1, "v": "a", "new": None},
        {"id": 2, "v": "B", "new": 1},
        {"id": 3, "v": "c", "new": 2},
    ]
