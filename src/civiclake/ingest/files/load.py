"""Loading one received file: parse in DuckDB, stream to Delta, write its rejects.

Each file gets a fresh DuckDB connection (its ``reject_errors`` and staging
tables are per-file, and nothing leaks between files). Good rows stream from
DuckDB to delta-rs as Arrow record batches, so memory stays bounded however
large the file. Both writes carry an application id derived from the file's
hash, checked before writing: a rerun after a crash never appends twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake import lineage
from civiclake.exceptions import disk_full, disk_full_error
from civiclake.ingest.exceptions import BadFileError
from civiclake.ingest.files import conform, delimited, migrate, structured
from civiclake.ingest.files.readers import DELTA_TYPES, Parsed, ReadRequest, detect_format
from civiclake.ingest.landing import replaced_where
from civiclake.naming import quote
from civiclake.storage.staged import Constant, sql_literal

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from civiclake.ingest.files.source import FilesSource
    from civiclake.ingest.landing import Received
    from civiclake.steps import RunContext

SINGLE_PASS_MIN_BYTES = 8 << 20
"""CSV files this large are streamed in one pass, assuming no bad rows (checked at the
end; if any, the write is abandoned and the file read again in two passes). Smaller
files always take two passes: it costs little and never abandons a write."""
BATCH_ROWS = 122_880
"""Rows per Arrow batch streamed to Delta: DuckDB's row-group size, bounded memory."""
_SHOWN_REJECTS = 5


@dataclass(frozen=True)
class Stamp:
    """The lineage values every row of one file gets."""

    values: dict[str, Constant]

    @property
    def sql(self) -> str:
        """``<value> AS <column>, …`` for a SELECT list."""
        return ", ".join(f"{sql_literal(v)} AS {quote(k)}" for k, v in self.values.items())


@dataclass(frozen=True)
class _File:
    """One file being loaded: by which source and run step, what it is, its lineage."""

    source: FilesSource
    ctx: RunContext
    req: ReadRequest
    received: Received
    stamp: Stamp
    batch: str
    """The write's application id (``file:<sha256>``; a reprocess of one file has its own)."""

    @property
    def rejects_batch(self) -> str:
        return "rejected:" + self.batch.removeprefix("file:")


@dataclass
class Loaded:
    rows: int
    rejected: int
    written: int = 0
    bytes_written: int = 0
    notes: list[str] = field(default_factory=list)


def load_file(
    source: FilesSource,
    ctx: RunContext,
    received: Received,
    kept: Path,
    source_file: str,
    *,
    sniffed: delimited.Sniffed | None = None,
    batch: str | None = None,
) -> Loaded:
    """Parse one kept file and write its good and rejected rows (``sniffed``: CSV dialect
    found beforehand, see :func:`sniff_ahead`; ``batch``: the writes' application id,
    ``file:<sha256>`` unless a reprocess names its own)."""
    project = source.project
    req = ReadRequest(kept, received.path.name, source.config, source.config_file)
    stamp = Stamp(
        {
            lineage.IMPORT_ID: ctx.import_id,
            lineage.IMPORTED_AT: datetime.now(UTC),
            lineage.SOURCE_FILE: source_file,
        }
    )
    file = _File(source, ctx, req, received, stamp, batch or f"file:{received.sha256}")
    committed = project.catalog.committed(source.dataset, file.batch)
    single_pass = not committed and received.size >= SINGLE_PASS_MIN_BYTES
    earlier: list[str] = []
    if single_pass:
        with _connection(source) as con:
            parsed = _parse(con, req, optimistic=True, sniffed=sniffed)
            if parsed.verify is not None:
                loaded = Loaded(0, 0)
                if source.config.full_export:
                    from civiclake.ingest.files.exports import apply_export

                    if apply_export(file, con, loaded, parsed):
                        return loaded
                elif _write_good(file, con, loaded, parsed):
                    return loaded
                # what the abandoned attempt did to the table (a migration) still holds
                earlier = loaded.notes
            else:
                return _load(file, con, parsed, committed)
    # Read it again, finding rejected rows first (small files, or bad rows found).
    with _connection(source) as con:
        parsed = _parse(con, req, optimistic=False, sniffed=sniffed)
        result = _load(file, con, parsed, committed)
    result.notes[:0] = [n for n in earlier if n not in result.notes]
    return result


def _connection(source: FilesSource) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    return source.project.connections.connect(timezone="UTC")


def _load(file: _File, con: duckdb.DuckDBPyConnection, parsed: Parsed, committed: bool) -> Loaded:
    loaded = Loaded(parsed.rows, parsed.rejected, notes=list(parsed.notes))
    replacing = replaced_where(file.received.replaces)
    project, ref = file.source.project, file.source.dataset
    if committed:
        loaded.notes.append(
            f"{file.req.name}: rows were committed by an interrupted run, not rewritten"
        )
    elif file.source.config.full_export:
        from civiclake.ingest.files.exports import apply_export

        apply_export(file, con, loaded, parsed)
    elif parsed.rows:
        _write_good(file, con, loaded, parsed)
    elif replacing is not None:  # the partial load's rows go, and nothing replaces them
        project.catalog.delete_once(ref, replacing, app_id=file.batch)
    if parsed.rejected:
        _write_rejects(file, con, loaded)
    elif replacing is not None:
        rejected = ref.sibling(f"{ref.name}__rejected")
        project.catalog.delete_once(rejected, replacing, app_id=file.rejects_batch)
    return loaded


def sniff_ahead(source: FilesSource, path: Path) -> Future[delimited.Sniffed] | None:
    """Start sniffing a CSV's dialect in a thread (it overlaps hashing the file)."""
    req = ReadRequest(path, path.name, source.config, source.config_file)
    if detect_format(req) != "csv":
        return None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="civiclake-sniff")
    future = pool.submit(delimited.sniff_file, req, connections=source.project.connections)
    pool.shutdown(wait=False)
    return future


def _parse(
    con: duckdb.DuckDBPyConnection,
    req: ReadRequest,
    *,
    optimistic: bool,
    sniffed: delimited.Sniffed | None = None,
) -> Parsed:
    fmt = detect_format(req)
    if fmt == "csv":
        return delimited.read_csv(con, req, optimistic=optimistic, sniffed=sniffed)
    if fmt == "excel":
        return structured.read_excel(con, req)
    return structured.read_json(con, req, lines=fmt == "ndjson")


class _Abort(Exception):
    """Raised inside the Arrow stream so delta-rs abandons the write (nothing is committed)."""


def _write_good(
    file: _File, con: duckdb.DuckDBPyConnection, loaded: Loaded, parsed: Parsed
) -> bool:
    """Stream ``good`` into the raw table; False when ``verify`` failed and nothing committed."""
    import duckdb

    source, req = file.source, file.req
    project, ref = source.project, source.dataset
    verify = parsed.verify
    # Lineage constants are added by the writer (cheaper than in the Arrow stream),
    # after _source_row, which the stream numbers when ``verify`` is set (a window
    # function would serialise DuckDB's scan).
    if verify is None:
        query = "SELECT * EXCLUDE (_source_row), _source_row FROM good"
    else:
        query = "SELECT * FROM good"
    bound = con.sql(conformed(file, con, query, loaded))
    aborted: list[bool] = []
    try:
        reader = bound.to_arrow_reader(BATCH_ROWS)
        if verify is not None:
            reader = _verified(reader, verify, parsed.first_row, aborted)
        replacing = replaced_where(file.received.replaces)
        result = project.catalog.write(
            ref,
            reader,
            mode="append" if replacing is None else "overwrite",
            where=replacing,
            producer=source.name,
            app_id=file.batch,
            key=source.config.key,
            description=source.config.description,
            owner=source.config.owner,
            pii=source.config.pii,
            constants=file.stamp.values,
        )
    except duckdb.Error as exc:
        if aborted:  # our own abort, surfacing through DuckDB's read of the stream
            return False
        if disk_full(exc):  # not the file's fault: it stays in the inbox for the next run
            raise disk_full_error(exc, f"loading {req.name}") from None
        raise BadFileError(
            f"{req.name}: {str(exc).splitlines()[0]}. Nothing was loaded from this file; set a "
            f"type for the column under `columns:` in {req.config_file}"
        ) from None
    except Exception:
        if aborted:
            return False
        raise
    loaded.written = result.rows
    loaded.bytes_written += result.bytes_written
    if verify is not None:
        loaded.rows = result.rows
    return True


def conformed(file: _File, con: duckdb.DuckDBPyConnection, query: str, loaded: Loaded) -> str:
    """``query`` over the file's rows, typed to fit the stored table (after migrating it for
    ``renames:`` and ``columns:``); notes on likely renames go to ``loaded``."""
    source, req = file.source, file.req
    project, ref = source.project, source.dataset
    bound = con.sql(query)  # binding only: nothing is read yet
    types = dict(zip(bound.columns, (str(t) for t in bound.types), strict=True))
    stored = {n: DELTA_TYPES.get(t.upper(), t) for n, t in types.items()}
    casts = {n: t for n, t in stored.items() if t != types[n]}
    where = {"file": req.name, "dataset": ref.qualified, "config_file": req.config_file}
    loaded.notes += migrate.migrate(
        con, project.catalog, ref, req, import_id=file.ctx.import_id, producer=source.name
    )
    table = project.tables.schema(project.layout.table_uri(ref))
    loaded.notes += conform.likely_renames(stored, table, **where)
    casts |= conform.conform(stored, table, **where)
    if not casts:
        return query
    conform.check_text_casts(con, query, stored, casts, **where)
    cast_list = ", ".join(f"CAST({quote(n)} AS {t}) AS {quote(n)}" for n, t in casts.items())
    return f"SELECT * REPLACE ({cast_list}) FROM ({query})"


def _verified(
    reader: pa.RecordBatchReader, verify: Callable[[], bool], first_row: int, aborted: list[bool]
) -> pa.RecordBatchReader:
    """Number the rows as they pass; at the end, abort the write unless ``verify()`` holds.

    DuckDB streams a CSV scan in file order, so the n-th row is line ``first_row + n``
    when nothing was rejected (which ``verify`` confirms).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = reader.schema.append(pa.field(lineage.SOURCE_ROW, pa.int64()))
    one = pa.scalar(1, pa.int64())

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        for batch in reader:
            n = batch.num_rows
            numbers = pc.cumulative_sum(pa.repeat(one, n), start=first_row - 1 + rows)
            rows += n
            yield pa.RecordBatch.from_arrays([*batch.columns, numbers], schema=schema)
        if rows == 0 or not verify():
            aborted.append(True)
            raise _Abort("rows were rejected: reading the file again to find them")

    return pa.RecordBatchReader.from_batches(schema, batches())


def _write_rejects(file: _File, con: duckdb.DuckDBPyConnection, loaded: Loaded) -> None:
    source, ctx, req = file.source, file.ctx, file.req
    project = source.project
    ref = source.dataset.sibling(f"{source.dataset.name}__rejected")
    rows = con.sql(
        f"SELECT {file.stamp.sql}, _source_row, column_name, error_type, reason, raw_line "
        "FROM rejects ORDER BY _source_row"
    ).to_arrow_table()
    for row in rows.slice(0, _SHOWN_REJECTS).to_pylist():
        ctx.log.warning(
            "%s, row %s, column %s: %s",
            req.name,
            row[lineage.SOURCE_ROW],
            row["column_name"] or "-",
            row["reason"],
        )
    if loaded.rejected > _SHOWN_REJECTS:
        ctx.log.warning(
            "%s: … %d more rejected rows in %s",
            req.name,
            loaded.rejected - _SHOWN_REJECTS,
            ref.qualified,
        )
    loaded.notes.append(f"{req.name}: {loaded.rejected} row(s) rejected, see {ref.qualified}")
    app_id = file.rejects_batch
    replacing = replaced_where(file.received.replaces)
    result = project.catalog.write_once(
        ref,
        rows,
        app_id=app_id,
        mode="append" if replacing is None else "overwrite",
        where=replacing,
        producer=source.name,
        description=f"Rows of {source.dataset.qualified} that could not be loaded, and why",
        owner=source.config.owner,
    )
    if result is not None:
        loaded.bytes_written += result.bytes_written
