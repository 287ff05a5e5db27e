"""The fast local write path: DuckDB encodes the Parquet, delta-rs commits it.

Streaming Arrow into delta-rs's writer costs ~1.4× DuckDB's own ``COPY … TO
parquet`` on two cores (Parquet encoding); DuckDB encodes with all threads.
So for a local table we let DuckDB write one data file into the table folder
and then commit it with delta-rs as an ``add`` action (with the row count as
its statistics) in one Delta commit, application transaction included.

A staged file that is never committed is invisible to readers (they follow
the Delta log) and is removed here; a crash leaves it to ``vacuum``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.storage.connections import DEFAULT, Connections

if TYPE_CHECKING:
    import pyarrow as pa

ROW_GROUP_ROWS = 122_880
"""Rows per Parquet row group: DuckDB's own row-group size."""

Constant = str | int | float | datetime
"""A value written on every row of a write (lineage: import id, time, source file)."""


@dataclass(frozen=True)
class StagedFile:
    """A data file written into a table's folder but not yet committed."""

    path: Path
    name: str
    """Relative to the table root: what the Delta log records."""
    rows: int
    size: int
    schema: pa.Schema
    stats: dict[str, dict[str, int]] | None = None
    """``minValues``/``maxValues`` of columns readers prune files by (stream offsets)."""

    def add_action(self) -> Any:
        from deltalake.transaction import AddAction

        stats = json.dumps({"numRecords": self.rows, **(self.stats or {})})
        return AddAction(self.name, self.size, {}, int(time.time() * 1000), True, stats)

    def reader(self) -> pa.RecordBatchReader:
        """The staged rows again, for the slower path when they cannot be committed as is."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        file = pq.ParquetFile(self.path)
        return pa.RecordBatchReader.from_batches(
            file.schema_arrow, file.iter_batches(ROW_GROUP_ROWS)
        )

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def stage(
    table_dir: Path,
    data: Any,
    *,
    connections: Connections = DEFAULT,
    constants: Mapping[str, Constant] | None = None,
) -> StagedFile:
    """Write ``data`` (an Arrow table or stream) as one Parquet file inside ``table_dir``.

    ``constants`` become trailing columns with one value on every row, added by
    DuckDB as it writes (cheaper than carrying them through the Arrow stream).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_dir.mkdir(parents=True, exist_ok=True)
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    path = table_dir / name
    con = connections.open()
    try:
        con.register("incoming", as_reader(data))
        extra = "".join(
            f', {sql_literal(value)} AS "{name}"' for name, value in (constants or {}).items()
        )
        con.execute(
            f"COPY (SELECT *{extra} FROM incoming) TO '{_escape(str(path))}' "
            f"(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    meta = pq.read_metadata(path)
    schema = pa.schema([f.with_nullable(True) for f in meta.schema.to_arrow_schema()])
    return StagedFile(path, name, meta.num_rows, os.path.getsize(path), schema)


def add_action_for(root: str, path: str, stats_columns: Any = ()) -> tuple[Any, pa.Schema]:
    """A Delta ``add`` action for a Parquet file written under ``root``, and its schema.

    Partition values come from ``key=value`` folders in the path; the row
    count and min/max of ``stats_columns`` from the footer, so readers can
    skip files by those columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake.transaction import AddAction

    relative = os.path.relpath(path, root).replace(os.sep, "/")
    partition = dict(part.split("=", 1) for part in relative.split("/")[:-1] if "=" in part)
    meta = pq.read_metadata(path)
    mins: dict[str, Any] = {}
    maxes: dict[str, Any] = {}
    names = meta.schema.names
    for column in stats_columns:
        if column not in names:
            continue
        index = names.index(column)
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index).statistics
            if stats is None or not stats.has_min_max:
                mins.pop(column, None)
                maxes.pop(column, None)
                break
            low, high = _stat(stats.min), _stat(stats.max)
            mins[column] = low if column not in mins else min(mins[column], low)
            maxes[column] = high if column not in maxes else max(maxes[column], high)
    stats_json = json.dumps(
        {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxes}, default=str
    )
    schema = pa.schema([f.with_nullable(True) for f in meta.schema.to_arrow_schema()])
    action = AddAction(
        relative, os.path.getsize(path), partition, int(time.time() * 1000), True, stats_json
    )
    action_rows = meta.num_rows
    return _Counted(action, action_rows, os.path.getsize(path)), schema


@dataclass(frozen=True)
class _Counted:
    """An add action with the counts a WriteResult needs."""

    action: Any
    rows: int
    size: int


def _stat(value: Any) -> Any:
    """A footer statistic as Delta's JSON statistics write it."""
    if isinstance(value, datetime):
        text = value.replace(tzinfo=None).isoformat(timespec="microseconds")
        return text + "Z" if value.tzinfo else text
    return value


def delta_compatible(schema: pa.Schema) -> bool:
    """True when every column has a type Delta stores as is (no unsigned ints, no ns…)."""
    return all(_compatible(f.type) for f in schema)


def _compatible(t: pa.DataType) -> bool:
    import pyarrow as pa

    types = pa.types
    if types.is_struct(t):
        return all(_compatible(t.field(i).type) for i in range(t.num_fields))
    if types.is_list(t) or types.is_large_list(t):
        return _compatible(t.value_type)
    if types.is_map(t):
        return _compatible(t.key_type) and _compatible(t.item_type)
    if types.is_timestamp(t):
        return t.unit == "us" and t.tz in (None, "UTC", "+00:00")
    return bool(
        types.is_boolean(t)
        or types.is_signed_integer(t)
        or types.is_floating(t)
        or types.is_decimal128(t)
        or types.is_string(t)
        or types.is_binary(t)
        or types.is_date32(t)
    )


def same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    """Same names and types in the same order, nullability aside."""
    return len(a) == len(b) and all(
        x.name == y.name and x.type.equals(y.type) for x, y in zip(a, b, strict=True)
    )


def as_reader(data: Any) -> pa.RecordBatchReader:
    """Any Arrow table, batch, list of batches or C stream as a record batch reader."""
    import pyarrow as pa

    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, pa.Table):
        return data.to_reader()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]).to_reader()
    if isinstance(data, list):
        return pa.Table.from_batches(data).to_reader()
    return pa.RecordBatchReader.from_stream(data)


def _escape(text: str) -> str:
    return text.replace("'", "''")


def sql_literal(value: Constant) -> str:
    """A DuckDB literal of the type the value has in Arrow (timestamps keep their zone)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return f"{kind} '{value.isoformat(sep=' ')}'"
    if isinstance(value, int):
        return f"CAST({value} AS BIGINT)"
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    return "'" + _escape(str(value)) + "'"


def with_constants(reader: pa.RecordBatchReader, constants: Mapping[str, Constant]) -> Any:
    """``reader`` with each constant appended as a column (for delta-rs's writer)."""
    import pyarrow as pa

    if not constants:
        return reader
    scalars = {name: _scalar(value) for name, value in constants.items()}
    schema = reader.schema
    for name, scalar in scalars.items():
        schema = schema.append(pa.field(name, scalar.type))

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            extra = [pa.repeat(s, batch.num_rows) for s in scalars.values()]
            yield pa.RecordBatch.from_arrays([*batch.columns, *extra], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _scalar(value: Constant) -> pa.Scalar:
    import pyarrow as pa

    if isinstance(value, datetime):
        tz = "UTC" if value.tzinfo else None
        return pa.scalar(value, type=pa.timestamp("us", tz=tz))
    if isinstance(value, int) and not isinstance(value, bool):
        return pa.scalar(value, type=pa.int64())
    return pa.scalar(value)
