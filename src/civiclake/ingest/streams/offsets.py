"""Rows and the offsets they consumed, committed together: exactly-once into Delta.

Each stream table (raw messages, decoded events, rejected messages) records,
in the same Delta commit as its rows, one application transaction per
partition it consumed: app id ``<stage>:<topic>:<partition>``, version = the
next offset to read (the last offset written + 1). A Delta commit is atomic,
so after a crash at any point the table's transactions say exactly which
messages it holds: the consumer seeks each partition there and re-reads what
was not committed — nothing lost, nothing twice. Kafka's own committed group
offsets are only a convenience for lag tools.

Before committing, the writer checks that each partition's transaction is
still where this consumer started its batch (see :class:`OffsetsMovedError`):
if another consumer of the group took the partition over and committed, this
batch is dropped instead of being written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.exceptions import Transient
from civiclake.ingest.exceptions import IngestError
from civiclake.storage.staged import StagedFile

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.storage import TableStore
    from civiclake.storage.staged import Constant

OFFSET_COLUMNS = ("partition", "offset", "_partition", "_offset")
"""Columns whose min/max each stream file's ``add`` action records."""

Partition = tuple[str, int]
"""(topic, partition) — or, for files, (source, 0)."""


class OffsetsMovedError(IngestError, Transient):
    """Another consumer committed offsets of a partition this batch covers (a rebalance):
    the batch is dropped and the partitions are read again from the table's offsets."""


def app_id(stage: str, partition: Partition) -> str:
    return f"{stage}:{partition[0]}:{partition[1]}"


def committed(
    tables: TableStore, uri: str, stage: str, partitions: list[Partition]
) -> dict[Partition, int | None]:
    """The next offset to read of each partition, from the table's transactions (or None)."""
    if not partitions or not tables.exists(uri):
        return dict.fromkeys(partitions)
    dt = tables.open(uri)
    found: dict[Partition, int | None] = {}
    for partition in partitions:
        version = dt.transaction_version(app_id(stage, partition))
        found[partition] = None if version is None else int(version)
    return found


def append(
    tables: TableStore,
    uri: str,
    data: pa.Table,
    *,
    stage: str,
    offsets: Mapping[Partition, tuple[int | None, int]],
    constants: Mapping[str, Constant] | None = None,
    description: str | None = None,
) -> int:
    """Append ``data`` and the partitions' new offsets in one Delta commit; bytes written.

    ``offsets`` maps each partition to (offset committed when the batch started — None
    when nothing was — and next offset after the batch). Raises
    :class:`OffsetsMovedError` when a partition's committed offset is no longer the
    first: another consumer wrote it meanwhile.
    """
    from deltalake import CommitProperties, Transaction

    now = committed(tables, uri, stage, list(offsets))
    moved = [p for p, (start, _) in offsets.items() if now[p] != start and now[p] is not None]
    if moved:
        raise OffsetsMovedError(
            f"{uri}: offsets of {', '.join(f'{t}[{p}]' for t, p in moved)} were committed by "
            "another consumer (a rebalance); the batch is read again from there"
        )
    props = CommitProperties(
        app_transactions=[Transaction(app_id(stage, p), end) for p, (_, end) in offsets.items()]
    )
    if "://" in uri:
        written = tables.write_stream(
            uri, data, mode="append", props=props, description=description, constants=constants
        )
    else:
        staged_file = _stage(Path(uri), data, constants or {})
        written = tables.write_staged(
            uri, staged_file, mode="append", props=props, description=description
        )
    return written.bytes_written


def _stage(table_dir: Path, data: pa.Table, constants: Mapping[str, Constant]) -> StagedFile:
    """Write the batch as one Parquet file in the table's folder with pyarrow.

    Stream batches are mostly opaque bytes (message values, event lists):
    pyarrow writes 50,000 1 KB messages in ~0.2 s where DuckDB's ``COPY`` took
    ~1.3 s (it compresses harder), so stream tables take this path rather than
    :func:`civiclake.storage.staged.stage`. Statistics are kept for every column
    but the binary ones (offsets and times are what readers filter on).
    """
    import os
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    from civiclake.storage.staged import ROW_GROUP_ROWS

    table_dir.mkdir(parents=True, exist_ok=True)
    for name, value in constants.items():
        data = data.append_column(name, pa.repeat(pa.scalar(value), data.num_rows))
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    path = table_dir / name
    stats = [f.name for f in data.schema if not pa.types.is_binary(f.type)]
    try:
        pq.write_table(
            data,
            path,
            compression="snappy",
            row_group_size=ROW_GROUP_ROWS,
            write_statistics=stats,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    schema = pa.schema([f.with_nullable(True) for f in data.schema])
    return StagedFile(path, name, data.num_rows, os.path.getsize(path), schema, _offset_stats(data))


def _offset_stats(data: pa.Table) -> dict[str, dict[str, int]]:
    import pyarrow.compute as pc

    mins: dict[str, int] = {}
    maxes: dict[str, int] = {}
    for column in OFFSET_COLUMNS:
        if column in data.column_names and data.num_rows:
            bounds = pc.min_max(data.column(column)).as_py()
            if bounds["min"] is not None:
                mins[column], maxes[column] = int(bounds["min"]), int(bounds["max"])
    return {"minValues": mins, "maxValues": maxes}


__all__ = ["OffsetsMovedError", "Partition", "app_id", "append", "committed"]
