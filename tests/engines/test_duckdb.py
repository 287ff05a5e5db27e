"""DuckDB sees datasets as <department>_<zone>.<dataset> and nothing else on disk."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from civiclake import Project
from civiclake.engines import EngineError
from civiclake.storage import DatasetRef

RENT = DatasetRef("housing", "raw", "rent")


def test_datasets_are_views_with_schema_names(project: Project) -> None:
    project.catalog.write(
        RENT, pa.table({"id": [1, 2], "w": ["a", "b"]}), mode="overwrite", producer="t"
    )
    with project.engine().session() as s:
        s.register([RENT])
        got = s.sql("select count(*) as n from housing_raw.rent where w = 'b'").read_all()
    assert got.column("n").to_pylist() == [1]


def test_string_filters_work_after_a_merge(project: Project) -> None:
    """After a delta-rs MERGE, reading through to_pyarrow_dataset breaks string filters."""
    project.catalog.write(
        RENT, pa.table({"id": [1, 2], "w": ["a", "b"]}), mode="overwrite", producer="t"
    )
    dt = DeltaTable(project.layout.table_uri(RENT))
    (
        dt.merge(pa.table({"id": [2, 3], "w": ["B", "c"]}), "s.id = t.id", "s", "t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    with project.engine().session() as s:
        s.register([RENT])
        rows = s.sql("select id from housing_raw.rent where w in ('B', 'c') order by id").read_all()
    assert rows.column("id").to_pylist() == [2, 3]


def test_empty_tables_keep_their_columns(project: Project) -> None:
    project.catalog.write(
        RENT, pa.table({"id": pa.array([], pa.int64())}), mode="overwrite", producer="t"
    )
    with project.engine().session() as s:
        s.register([RENT])
        table = s.sql("select * from housing_raw.rent").read_all()
    assert table.num_rows == 0 and table.column_names == ["id"]


def test_sql_cannot_read_files_outside_the_storage_root(project: Project, tmp_path) -> None:
    secret = tmp_path / "outside.csv"
    secret.write_text("a\n1\n")
    with project.engine().session() as s, pytest.raises(EngineError, match="disabled"):
        s.sql(f"select * from read_csv('{secret}')")


def test_sql_cannot_change_configuration(project: Project) -> None:
    with project.engine().session() as s:
        s.sql("select 1").read_all()
        with pytest.raises(EngineError, match="lock"):
            s.sql("SET enable_external_access = true").read_all()


def test_spark_dialect_sql_is_transpiled(project: Project) -> None:
    with project.engine().session() as s:
        out = s.sql("SELECT CONCAT('a', 'b') AS x", dialect="spark").read_all()
    assert out.column("x").to_pylist() == ["ab"]


def test_unknown_return_type_from_a_python_job_is_explained(project: Project) -> None:
    with project.engine().session() as s, pytest.raises(EngineError, match="return a pyarrow"):
        s.to_arrow(42)
