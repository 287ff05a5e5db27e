"""Ad-hoc queries (``civiclake query``, ``civiclake diff``): one read-only statement over the
catalog's datasets, through the access guard."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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


@dataclass(frozen=True)
class Diff:
    """What changed in a keyed dataset between two times (``civiclake diff``)."""

    dataset: str
    since: str
    until: str
    known: bool
    """Compared by recorded time (what ``x`` showed) rather than valid time."""
    rows: pa.Table
    """One row per key: ``change``, the key columns, ``changed_columns`` (for a change),
    ``old_values`` and ``new_values`` (JSON objects of the columns, as text)."""
    counts: dict[str, int]
    """Keys ``added``, ``removed`` and ``changed``."""
    columns: list[tuple[str, int]]
    """The changed columns, most often changed first, with how many keys changed them."""
    schema_changes: list[dict[str, Any]] = field(default_factory=list)
    """The catalog's ``schema_changes`` recorded between the two times."""


def run_diff(
    project: Project,
    dataset: str,
    since: str,
    until: str,
    *,
    known: bool = False,
    user: str | None = None,
) -> Diff:
    """Compare keyed ``dataset`` at ``since`` and ``until`` (dates or timestamps), key by key.

    The comparison is the SQL ``dataset_diff(t1, t2, known := …)`` run through
    :func:`run_query`, so the same guard decides: a user who cannot read the dataset is
    refused, masked columns are compared and shown masked, and the query is audited.
    """
    from civiclake.access.guard import check_sql
    from civiclake.access.policy import AccessPolicy
    from civiclake.naming import DIFF_SUFFIX
    from civiclake.snapshots import HistoryError, open_history

    start, start_sql = _moment(since, "t1")
    end, end_sql = _moment(until, "t2")
    name = dataset.strip()
    schema, dot, table_name = name.partition(".")
    if not dot or not table_name:
        raise EngineError(
            f"diff: {dataset!r} is not a dataset name; write <department>_<zone>.<dataset> "
            "(`civiclake datasets` lists them)"
        )
    sql = (
        f"SELECT * FROM {schema}.{table_name}{DIFF_SUFFIX}({start_sql}, {end_sql}, "
        f"known := {'true' if known else 'false'})"
    )
    policy = AccessPolicy.load(project)
    principal = policy.cli_principal(user)
    checked = check_sql(sql, policy, principal, max_chars=project.config.serve.max_sql_chars)
    ref = checked.datasets[0]
    if open_history(project.tables, project.catalog.uri(ref)) is None:
        raise HistoryError(
            f"diff needs a keyed dataset with history, and {ref.qualified} has none (it keeps "
            "only its latest state). Declare a key: for a files source `key:` in its "
            "sources/<department>/<name>.yaml, for a job `key=` — then compare with "
            "`civiclake query` over two saved copies instead"
        )
    long = run_query(project, sql, user=user).read_all()
    key = list(long.schema.names[1 : long.num_columns - 3])
    found = _summarise(project, long, key)
    return Diff(
        ref.qualified,
        since,
        until,
        known,
        *found,
        _schema_changes(project, ref.qualified, (start, end), known, user),
    )


def _schema_changes(
    project: Project,
    dataset: str,
    moments: tuple[datetime, datetime],
    known: bool,
    user: str | None,
) -> list[dict[str, Any]]:
    """The catalog's column changes between the two times: by recorded time, those made
    then; by valid time, those made by an import that brought versions valid then."""
    from civiclake.snapshots import naive_utc

    low, high = sorted(moments)
    changes = [c for c in project.store.schema_changes(dataset) if c["changed_at"] is not None]
    if known or not changes:
        return [c for c in changes if low <= naive_utc(c["changed_at"]) < high]
    imports = run_query(
        project,
        f"SELECT DISTINCT _import_id FROM {dataset}__history "
        f"WHERE valid_from >= TIMESTAMP '{low.isoformat(sep=' ')}' "
        f"AND valid_from < TIMESTAMP '{high.isoformat(sep=' ')}'",
        user=user,
    ).read_all()
    brought = set(imports.column(0).to_pylist())
    return [c for c in changes if c["import_id"] in brought]


def _moment(text: str, which: str) -> tuple[datetime, str]:
    """``2026-03-01`` (the end of that day) or ``2026-03-01 16:00`` (that instant): the
    instant meant and its SQL literal."""
    from civiclake.snapshots import naive_utc

    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EngineError(
            f"diff: {which} {text!r} is not a date or a timestamp; write 2026-03-01 (the end "
            "of that day) or '2026-03-01 16:00'"
        ) from None
    if len(value) == 10:
        return parsed + timedelta(days=1), f"DATE '{parsed.date().isoformat()}'"
    naive = naive_utc(parsed)
    return naive, f"TIMESTAMP '{naive.isoformat(sep=' ')}'"


def _summarise(
    project: Project, long: pa.Table, key: list[str]
) -> tuple[pa.Table, dict[str, int], list[tuple[str, int]]]:
    """The long form (one row per changed column) as one row per key, with the counts."""
    from civiclake.naming import quote as q

    keys = ", ".join(q(k) for k in key)
    con = project.connections.open()
    try:
        con.register("__diff", long)
        rows = con.sql(
            f"SELECT change, {keys}, "
            "CASE WHEN change = 'changed' THEN list(column_name ORDER BY column_name) "
            "END AS changed_columns, "
            f"CASE WHEN change <> 'added' THEN {_as_json('old_value')} END AS old_values, "
            f"CASE WHEN change <> 'removed' THEN {_as_json('new_value')} END AS new_values "
            f"FROM __diff GROUP BY change, {keys} ORDER BY change, {keys}"
        ).to_arrow_table()
        con.register("__diff_rows", rows)
        counted = dict(
            con.sql("SELECT change, count(*) FROM __diff_rows GROUP BY change").fetchall()
        )
        columns = con.sql(
            "SELECT column_name, count(*) AS n FROM __diff WHERE change = 'changed' "
            "GROUP BY column_name ORDER BY n DESC, column_name"
        ).fetchall()
    finally:
        con.close()
    counts = {kind: int(counted.get(kind, 0)) for kind in ("added", "removed", "changed")}
    return rows, counts, [(str(c), int(n)) for c, n in columns]


def _as_json(value: str) -> str:
    """An aggregate: the key's ``column_name → value`` pairs as a JSON object (text)."""
    pairs = f"list(struct_pack(k := column_name, v := {value}) ORDER BY column_name)"
    return (
        f"CAST(to_json(map_from_entries({pairs} FILTER (WHERE column_name IS NOT NULL))) "
        "AS VARCHAR)"
    )


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
