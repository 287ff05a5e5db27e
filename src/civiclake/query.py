"""Ad-hoc queries (``civiclake query``): one read-only statement over the catalog's datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.engines.exceptions import EngineError

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.project import Project


def run_query(project: Project, sql: str, *, user: str | None = None) -> pa.RecordBatchReader:
    """Run ``sql`` over the catalog's datasets, named ``<dept>_<zone>.<name>``.

    Always through the same guard and locked session as the SQL API: one query, its
    relations resolved by scope, no files or table functions. In an open project (no
    users) the owner reads every dataset; once the project has users, ``user`` (or
    ``$CIVICLAKE_USER``, or the login name) sees only what they may read, PII masked,
    and the query is audited.
    """
    from civiclake.access.guard import check_sql
    from civiclake.access.policy import AccessPolicy
    from civiclake.access.session import audited, open_session

    policy = AccessPolicy.load(project)
    principal = policy.cli_principal(user)
    checked = check_sql(sql, policy, principal, max_chars=project.config.serve.max_sql_chars)
    for ref in checked.datasets:  # a table behind its catalog version would answer wrongly
        project.catalog.verify(ref)
    session = open_session(project, policy, principal, checked.datasets)
    reader = session.sql(checked.sql)
    if principal.owner:
        return reader  # an open project: nobody to audit
    return audited(reader, project.store, principal.name, "cli", sql)


def write_result(reader: pa.RecordBatchReader, fmt: str, output: Path | None) -> int:
    """Stream a result to a file (or stdout for csv/json); returns the row count."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    if fmt == "parquet":
        if output is None:
            raise EngineError("parquet output needs a file: add --output result.parquet")
        with pq.ParquetWriter(output, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    sink: Any = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
    try:
        if fmt == "csv":
            schema = _csv_schema(reader.schema)
            with pacsv.CSVWriter(sink, schema) as writer:
                for batch in reader:
                    writer.write_batch(_csv_batch(batch, schema))
                    rows += batch.num_rows
        else:
            first = True
            sink.write(b"[")
            for batch in reader:
                for record in batch.to_pylist():
                    sink.write(
                        (b"\n" if first else b",\n") + json.dumps(record, default=str).encode()
                    )
                    first = False
                rows += batch.num_rows
            sink.write(b"\n]\n")
    finally:
        if output:
            sink.close()
        else:
            sink.flush()
    return rows


def _nested(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
        or pa.types.is_struct(arrow_type)
        or pa.types.is_map(arrow_type)
        or pa.types.is_union(arrow_type)
    )


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    """CSV has no lists or structs: those columns are written as JSON text."""
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.string()) if _nested(f.type) else f for f in schema])


def _csv_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    if schema == batch.schema:
        return batch
    columns = [
        pa.array(
            [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()],
            pa.string(),
        )
        if _nested(column.type)
        else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
