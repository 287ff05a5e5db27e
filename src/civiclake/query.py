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
    from civiclake.storage import DatasetRef


def check_read_only(sql: str) -> Any:
    """Accept exactly one query (SELECT, WITH, UNION…); refuse anything that changes state.

    Returns the parsed query.
    """
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise EngineError(f"the query does not parse: {exc}") from None
    if len(statements) != 1:
        raise EngineError(f"give exactly one query (got {len(statements)} statements)")
    if not isinstance(statements[0], exp.Query):
        kind = type(statements[0]).__name__.upper()
        raise EngineError(f"only queries are allowed here (SELECT/WITH), not {kind}")
    return statements[0]


def check_tables(query: Any, known: list[DatasetRef]) -> None:
    """Every ``schema.table`` the query names must be a known dataset (with a suggestion)."""
    from sqlglot import exp

    from civiclake.config.suggest import did_you_mean
    from civiclake.naming import dataset_read

    names = {ref.qualified for ref in known}
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        name = table.name
        if isinstance(table.this, exp.Anonymous):  # x_as_of(DATE '…') reads x
            name = dataset_read(table.this.name, call=True)
            if name == table.this.name:
                continue  # another table function: the engine's own checks apply
        if not table.db or name in ctes:
            continue
        qualified = f"{table.db}.{name}".lower()
        if qualified not in names:
            listed = ", ".join(sorted(names)[:12]) or "none yet (run `civiclake run`)"
            raise EngineError(
                f"unknown table {qualified}{did_you_mean(qualified, names)}. "
                f"Datasets: {listed}{' …' if len(names) > 12 else ''} "
                "(`civiclake datasets` lists them all)"
            )


def run_query(project: Project, sql: str, *, user: str | None = None) -> pa.RecordBatchReader:
    """Run ``sql`` with every dataset of the catalog visible as ``<dept>_<zone>.<name>``.

    Once the project has users, the access policy decides instead: ``user`` (or
    ``$CIVICLAKE_USER``, or the login name) sees only what they may read, PII masked,
    through the same guard as the SQL API, and the query is audited.
    """
    from civiclake.access.policy import AccessPolicy

    policy = AccessPolicy.load(project)
    principal = policy.cli_principal(user)
    if not principal.owner:
        from civiclake.access.guard import check_sql
        from civiclake.access.session import audited, open_session

        checked = check_sql(sql, policy, principal, max_chars=project.config.serve.max_sql_chars)
        session = open_session(project, policy, principal, checked.datasets)
        reader = session.sql(checked.sql)
        return audited(reader, project.store, principal.name, "cli", sql)
    query = check_read_only(sql)
    known = project.catalog_datasets()
    check_tables(query, known)
    session = project.engine().session()
    session.register(known)
    return session.sql(sql)


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
            with pacsv.CSVWriter(sink, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
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
