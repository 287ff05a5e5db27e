"""Writing a job's result: lineage columns, then table, append or incremental.

* ``table`` — overwrite: the dataset is exactly the last run's result.
* ``append`` — add the rows once per new state of the inputs: the commit carries
  the application transaction ``job:<name>:inputs:<digest of input versions>``,
  so a retried step, or a re-run after a crash, with unchanged inputs sees the
  earlier commit and skips instead of appending the same rows again.
* ``incremental`` — upsert by ``key`` with a delta-rs MERGE (the first run
  creates the table). The result is checked first: a key that is NULL or
  appears twice would be inserted twice by the MERGE, silently.

Everything stays Arrow; only ``incremental`` holds the result in memory, because
the key check and the MERGE (``streamed_exec=False``, so source statistics can
prune target files) both need it whole — an increment, not the full table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from civiclake import lineage
from civiclake.jobs.exceptions import JobError

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.jobs.base import Job
    from civiclake.project import Project
    from civiclake.steps import Counts, RunContext
    from civiclake.storage import DatasetRef

_STAMPED = (lineage.IMPORT_ID, lineage.IMPORTED_AT)


def app_id(ctx: RunContext, job: Job) -> str:
    """The Delta application transaction an ``append`` job commits with.

    It names the versions of the job's inputs, so appending happens once per
    new input state. A job without inputs appends once per run step.
    """
    import hashlib

    if not job.inputs:
        return f"job:{job.name}:{ctx.import_id}"
    tables = ctx.project.tables
    state = "|".join(
        f"{ref.qualified}@{tables.open(ctx.project.layout.table_uri(ref)).version()}"
        for ref in sorted(job.inputs)
    )
    return f"job:{job.name}:inputs:{hashlib.sha256(state.encode()).hexdigest()[:16]}"


def already_written(ctx: RunContext, job: Job) -> bool:
    """True when an ``append`` job already appended for the current input state."""
    if job.options.materialize != "append":
        return False
    return ctx.project.catalog.committed(job.output, app_id(ctx, job))


def stamp_lineage(
    reader: pa.RecordBatchReader, import_id: str, *, where: str
) -> pa.RecordBatchReader:
    """Set ``_import_id``/``_imported_at`` for this run; keep other lineage columns.

    Lineage columns arriving twice (a join of two civiclake tables) keep the first
    occurrence; any other duplicated column name is the query's mistake.
    """
    import pyarrow as pa

    names = reader.schema.names
    clashes = sorted({n for n in names if names.count(n) > 1 and n not in lineage.ALL})
    if clashes:
        raise JobError(
            f"{where}: the result has more than one column named {', '.join(clashes)}; "
            "give each column its own name (e.g. `a.ward_code AS ward_code_a`) or use "
            "JOIN … USING (…)"
        )
    keep = [i for i, n in enumerate(names) if n not in _STAMPED and names.index(n) == i]
    stamped_at = pa.scalar(datetime.now(UTC), type=pa.timestamp("us", tz="UTC"))
    stamped_id = pa.scalar(import_id, type=pa.string())
    schema = pa.schema(
        [reader.schema.field(i) for i in keep]
        + [pa.field(lineage.IMPORT_ID, pa.string()), pa.field(lineage.IMPORTED_AT, stamped_at.type)]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            columns = [batch.column(i) for i in keep]
            columns.append(pa.repeat(stamped_id, batch.num_rows))
            columns.append(pa.repeat(stamped_at, batch.num_rows))
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def write(
    ctx: RunContext, job: Job, data: pa.RecordBatchReader, *, pii: Sequence[str] | None = None
) -> Counts:
    """Write ``data`` to the job's output the way its options say.

    ``pii`` is the effective PII list (declared, derived, cleared: :mod:`civiclake.jobs.pii`)
    the catalog records, so every door masks it; without it, the declared ``pii:``.
    """
    from civiclake.steps import Counts

    opts = job.options
    catalog = _entry(job, pii)
    project = ctx.project
    if opts.materialize == "incremental":
        return _upsert(ctx, job, data.read_all(), catalog)
    if opts.materialize == "append":
        result = project.catalog.write(
            job.output, data, mode="append", app_id=app_id(ctx, job), **catalog
        )
    else:
        result = project.catalog.write(job.output, data, mode="overwrite", **catalog)
    return Counts(rows_out=result.rows, bytes_written=result.bytes_written)


def register(ctx: RunContext, job: Job, *, pii: Sequence[str] | None = None) -> None:
    """Record the job's output in the catalog as :func:`write` would (its table as it is)."""
    ctx.project.catalog.register(job.output, **_entry(job, pii))


def _entry(job: Job, pii: Sequence[str] | None) -> dict[str, Any]:
    opts = job.options
    return {
        "producer": job.name,
        "key": opts.key,
        "description": opts.description,
        "owner": opts.owner,
        "pii": list(opts.pii if pii is None else pii),
    }


def _upsert(ctx: RunContext, job: Job, table: pa.Table, catalog: dict[str, Any]) -> Counts:
    from civiclake.steps import Counts

    key = job.options.key
    check_keys(table, key, where=job.location)
    project = ctx.project
    if not project.tables.exists(project.layout.table_uri(job.output)):
        result = project.catalog.write(job.output, table, mode="overwrite", **catalog)
        return Counts(rows_out=result.rows, bytes_written=result.bytes_written)
    merged = project.catalog.merge(job.output, table, **catalog)
    return Counts(
        rows_out=merged.rows,
        bytes_written=merged.bytes_written,
        notes=[f"{merged.inserted} inserted, {merged.updated} updated"],
    )


def check_keys(table: pa.Table, key: Sequence[str], *, where: str) -> None:
    """Refuse a result whose key columns are missing, NULL or repeated."""
    import pyarrow.compute as pc

    missing = [k for k in key if k not in table.column_names]
    if missing:
        raise JobError(
            f"{where}: key column {', '.join(missing)} is not in the result "
            f"(columns: {', '.join(table.column_names)}); select it or fix the key"
        )
    for k in key:
        nulls = table.column(k).null_count
        if nulls:
            raise JobError(
                f"{where}: {nulls} rows have no {k} (NULL); every row needs its key. "
                f"Filter them out (WHERE {k} IS NOT NULL) or fill them in"
            )
    counts = table.select(list(key)).group_by(list(key)).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    if repeated.num_rows:
        example = {k: repeated.column(k)[0].as_py() for k in key}
        raise JobError(
            f"{where}: {repeated.num_rows} key values appear more than once "
            f"(e.g. {example}); key {', '.join(key)} must identify one row. "
            "Keep one row per key, e.g. QUALIFY row_number() OVER "
            f"(PARTITION BY {', '.join(key)} ORDER BY …) = 1"
        )


def count_rows(project: Project, refs: Sequence[DatasetRef]) -> int:
    """Rows in the current versions of ``refs``, read from their Delta logs (no data)."""
    return sum(project.tables.describe(project.layout.table_uri(ref)).rows for ref in refs)
