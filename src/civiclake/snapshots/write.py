"""Writing a history table's parts: DuckDB encodes, delta-rs commits, with the spec kept
on the schema; shared by applying, widening and compaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.lineage import IMPORT_ID, IMPORTED_AT
from civiclake.naming import literal as _literal
from civiclake.snapshots.spec import SPEC_METADATA, HistorySpec
from civiclake.snapshots.sql import DELETED, PART, SEQ, VALID_FROM, q
from civiclake.snapshots.table import HistoryTable

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb
    import pyarrow as pa

    FileRelation = Callable[[Sequence["DataFile"]], str]
    """A tier's files as a SQL relation (``read_parquet`` unless a session says otherwise)."""

    from civiclake.catalog import Catalog
    from civiclake.storage import WriteResult
    from civiclake.storage.delta import DataFile


def connect(catalog: Catalog) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the project's limits, for writing or comparing history."""
    # row order inside history files carries no meaning (``_seq`` does),
    # so writes need not be serialised to keep it
    return catalog.tables.connections.open(ordered=False)


def _write(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    uri: str,
    parts: dict[str, str],
    spec: HistorySpec,
    *,
    removed: Sequence[DataFile] = (),
    predicate: str | None = None,
    app_id: str | None = None,
    metadata: dict[str, str],
) -> WriteResult:
    """Commit each query of ``parts`` (``_part`` value → query) in one Delta commit.

    Locally DuckDB writes one Parquet file per part (a plain ``COPY``: faster
    than a partitioned one) and delta-rs commits them, adding and removing
    files in one commit; delta-rs's own writer, ~1.4× slower, is the fallback
    for object stores and schema changes. ``removed`` (fast path) and
    ``predicate`` (fallback) say what the commit replaces; neither means an
    append.
    """
    import uuid

    from civiclake.storage.staged import ROW_GROUP_ROWS

    tables = catalog.tables
    first = next(iter(parts.values()))
    schema = con.sql(f"SELECT *, '' AS {q(PART)} FROM ({first}) LIMIT 0").to_arrow_table().schema
    if "://" not in uri:
        files: list[str] = []
        try:
            for part, query in parts.items():
                folder = Path(uri) / f"{PART}={part}"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"part-{uuid.uuid4()}.snappy.parquet"
                files.append(str(path))
                rows = con.execute(
                    f"COPY ({query}) TO {_literal(str(path))} (FORMAT parquet, "
                    f"COMPRESSION snappy, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
                ).fetchall()[0][0]
                if not rows:  # an empty part adds nothing but a file to open
                    path.unlink()
                    files.pop()
            result = tables.commit_files(
                uri,
                files,
                removed,
                schema=_with_spec(schema, spec),
                partition_by=[PART],
                stats_columns=[VALID_FROM, SEQ],
                app_id=app_id,
                metadata=metadata,
                # Delta keeps statistics of the first 32 columns only unless told
                configuration={"delta.dataSkippingStatsColumns": f"{VALID_FROM},{SEQ}"},
            )
        except BaseException:
            for written in files:
                Path(written).unlink(missing_ok=True)
            raise
        if result is not None:
            return result
        for written in files:  # the schema changed: let delta-rs merge it
            Path(written).unlink(missing_ok=True)
    union = " UNION ALL BY NAME ".join(
        f"SELECT *, {_literal(part)} AS {q(PART)} FROM ({query})" for part, query in parts.items()
    )
    reader = _reader(con, union, spec)
    if removed or predicate:
        return tables.replace_partitions(
            uri, reader, partition_by=[PART], predicate=predicate, metadata=metadata
        )
    return tables.write(
        uri, reader, mode="append", partition_by=[PART], app_id=app_id, metadata=metadata
    )


def _with_spec(schema: pa.Schema, spec: HistorySpec) -> pa.Schema:
    """``schema`` with the spec on ``_seq`` and time zones spelled as Delta wants (UTC)."""
    import pyarrow as pa

    fields = []
    for f in schema:
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            f = f.with_type(pa.timestamp(f.type.unit, "UTC"))
        if f.name == SEQ:
            f = f.with_metadata({SPEC_METADATA: spec.to_json().encode()})
        fields.append(f)
    return pa.schema(fields)


def _ordered_columns(
    con: duckdb.DuckDBPyConnection, table: str, current: HistoryTable | None
) -> str:
    """The table's columns in its order, new ones after; the increment's lineage last."""
    names = [r[0] for r in con.sql(f"DESCRIBE {table}").fetchall()]
    if current is None:
        data = [n for n in names if not n.startswith("_") and n != VALID_FROM]
        fixed = [VALID_FROM, DELETED, SEQ, IMPORT_ID, IMPORTED_AT]
        rest = [n for n in names if n.startswith("_") and n not in fixed]
        order = [*data, *fixed, *rest]
    else:
        order = [n for n in current.columns if n in names]
        order += [n for n in names if n not in order]
    return ", ".join(q(n) for n in order)


def _reader(con: duckdb.DuckDBPyConnection, query: str, spec: HistorySpec) -> pa.RecordBatchReader:
    """Run ``query`` as an Arrow stream whose ``_seq`` field carries the spec."""
    import pyarrow as pa

    from civiclake.storage.staged import ROW_GROUP_ROWS

    reader = con.sql(query).to_arrow_reader(batch_size=ROW_GROUP_ROWS)
    schema = _with_spec(reader.schema, spec)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())
