"""The raw table changed to what the config now says, before a file is appended to it.

Two config edits change columns the table already holds:

* ``renames: {tenancy_reference: tenancy_ref}`` — the old column's rows move into the
  current one (coalesced with it when both exist: months loaded before the rename was
  configured), and the old column goes;
* ``columns: {amount: DOUBLE}`` on a column stored as another type — the column is
  cast, when every stored value fits: a text value must cast, any other value must come
  back unchanged from the new type (so ``1.5`` is never stored as ``2``). One value that
  does not fit stops the change, naming how many and which, before anything is written.

Either is one Delta overwrite of the table (one atomic commit: the table is the old one
or the new one, never half), recorded in the metadata store's schema changes
(``renamed``, ``retyped``) and in the step's notes. Once done the table matches the
config, so later files find nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from civiclake.ingest.duck import duckdb_type, scalar
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files.conform import widens
from civiclake.ingest.files.readers import DELTA_TYPES, ReadRequest, is_text
from civiclake.naming import literal, quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from civiclake.catalog import Catalog
    from civiclake.storage import DatasetRef


_BATCH_ROWS = 122_880
"""Rows per Arrow batch of the rewrite (DuckDB's row-group size): memory stays bounded."""


@dataclass
class _Plan:
    """What the rewrite selects, column by column, and what it records."""

    select: list[str] = field(default_factory=list)
    changes: list[tuple[str, str, str, str]] = field(default_factory=list)
    """``(change, column, old type, new type)`` for the schema-change log."""
    notes: list[str] = field(default_factory=list)


def migrate(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    ref: DatasetRef,
    req: ReadRequest,
    *,
    import_id: str,
    producer: str,
) -> list[str]:
    """Apply ``renames:`` and ``columns:`` to ``ref``'s stored table; the step notes to add."""
    config = req.config
    if config.full_export:
        return _migrate_history(con, catalog, ref, req, import_id=import_id)
    uri = catalog.uri(ref)
    schema = catalog.tables.schema(uri)
    if schema is None:
        return []
    renames = {old: new for old, new in config.renames.items() if old in schema.names}
    retypes = _retypes(con, schema, renames, config.columns)
    if not renames and not retypes:
        return []
    files = catalog.tables.scan_files(uri)
    if files.uris:
        listed = ", ".join(literal(u) for u in files.uris)
        stored = f"read_parquet([{listed}], union_by_name = true)"
    else:
        con.register("stored_rows", files.schema.empty_table())
        stored = "stored_rows"
    plan = _plan(con, schema, renames, retypes, stored, ref=ref, req=req)
    rows = con.sql(f"SELECT {', '.join(plan.select)} FROM {stored}")
    catalog.write(
        ref,
        rows.to_arrow_reader(_BATCH_ROWS),
        mode="overwrite",
        producer=producer,
        key=config.key,
        description=config.description,
        owner=config.owner,
        pii=config.pii,
        metadata={"civiclake.operation": "files-migrate", "civiclake.import_id": import_id},
    )
    for change, column, old, new in plan.changes:
        catalog.store.record_schema_change(
            ref.qualified, change, column, old_type=old, new_type=new, import_id=import_id
        )
    return plan.notes


def _migrate_history(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    ref: DatasetRef,
    req: ReadRequest,
    *,
    import_id: str,
) -> list[str]:
    """The same for a full export's history: every version rewritten in one commit."""
    from civiclake.snapshots import open_history, rewrite

    config = req.config
    table = open_history(catalog.tables, catalog.uri(ref))
    if table is None:
        return []
    schema = table.schema
    renames = {old: new for old, new in config.renames.items() if old in schema.names}
    keyed = [old for old in renames if old in table.spec.key]
    if keyed:
        raise IngestError(
            f"{ref.qualified}: `renames:` in {req.config_file} renames the key column "
            f"{', '.join(keyed)} of a full export's history; a new key needs "
            f"`civiclake files reprocess {ref.qualified}` after the rename. Nothing was changed "
            f"and {req.name} was not loaded"
        )
    retypes = _retypes(con, schema, renames, config.columns)
    if not renames and not retypes:
        return []
    planned: list[_Plan] = []

    def select(stored: str) -> str:
        plan = _plan(con, schema, renames, retypes, stored, ref=ref, req=req)
        planned.append(plan)
        return ", ".join(plan.select)

    rewrite(catalog, ref, con, select, operation="files-migrate")
    for change, column, old, new in planned[0].changes:
        catalog.store.record_schema_change(
            ref.qualified, change, column, old_type=old, new_type=new, import_id=import_id
        )
    return planned[0].notes


def _retypes(
    con: duckdb.DuckDBPyConnection,
    schema: pa.Schema,
    renames: dict[str, str],
    overrides: dict[str, str],
) -> dict[str, tuple[str, str]]:
    """Columns (by current name) whose override differs from the stored type: (from, to)."""
    found = {}
    for column, type_name in overrides.items():
        olds = [o for o, n in renames.items() if n == column]
        stored = column if column in schema.names else (olds[0] if olds else None)
        if stored is None:
            continue  # a new column: the file's write adds it
        current = duckdb_type(schema.field(stored).type)
        target = str(con.sql(f"SELECT CAST(NULL AS {type_name})").types[0]).upper()
        target = DELTA_TYPES.get(target, target)
        if current is not None and current != target:
            found[column] = (current, target)
    return found


def _plan(
    con: duckdb.DuckDBPyConnection,
    schema: pa.Schema,
    renames: dict[str, str],
    retypes: dict[str, tuple[str, str]],
    stored: str,
    *,
    ref: DatasetRef,
    req: ReadRequest,
) -> _Plan:
    plan = _Plan()
    olds_of: dict[str, list[str]] = {}
    for old, new in renames.items():
        olds_of.setdefault(new, []).append(old)
    placed: set[str] = set()
    for name in schema.names:
        column = renames.get(name, name)
        if column in placed:
            continue
        placed.add(column)
        sources = ([column] if column in schema.names else []) + olds_of.get(column, [])
        expr, kind = _merged(schema, sources, ref=ref, req=req)
        for old in olds_of.get(column, []):
            old_type = duckdb_type(schema.field(old).type) or str(schema.field(old).type)
            plan.changes.append(("renamed", column, old_type, kind))
            plan.notes.append(
                f"{ref.qualified}: column `{old}` renamed to `{column}` (`renames:` in "
                f"{req.config_file}); its stored rows now read as `{column}`"
            )
        if column in retypes:
            current, target = retypes[column]
            _check_fits(con, stored, expr, column, current, target, ref=ref, req=req)
            expr = f"CAST({expr} AS {target})"
            plan.changes.append(("retyped", column, current, target))
            plan.notes.append(
                f"{ref.qualified}: column `{column}` changed from {current} to {target} "
                f"(`columns:` in {req.config_file}); every stored value fitted"
            )
        plan.select.append(f"{expr} AS {quote(column)}")
    return plan


def _merged(
    schema: pa.Schema, sources: Sequence[str], *, ref: DatasetRef, req: ReadRequest
) -> tuple[str, str]:
    """One column from its current name and its old ones (coalesced), and its type."""
    types = [duckdb_type(schema.field(s).type) or "" for s in sources]
    kind = types[0]
    for other in types[1:]:
        if other == kind or widens(other, kind) or kind == "VARCHAR":
            continue
        if widens(kind, other) or other == "VARCHAR":
            kind = other
            continue
        raise IngestError(
            f"{ref.qualified}: `renames:` in {req.config_file} makes `{sources[0]}` ({types[0]}) "
            f"and `{sources[types.index(other)]}` ({other}) one column, but neither type holds "
            f"the other's values. Nothing was changed and {req.name} was not loaded; remove "
            "the rename, or add the column to `columns:` with a type both fit (e.g. VARCHAR)"
        )
    parts = [
        quote(s) if t == kind else f"CAST({quote(s)} AS {kind})"
        for s, t in zip(sources, types, strict=True)
    ]
    return (parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"), kind


def _check_fits(
    con: duckdb.DuckDBPyConnection,
    stored: str,
    expr: str,
    column: str,
    current: str,
    target: str,
    *,
    ref: DatasetRef,
    req: ReadRequest,
) -> None:
    """Raise unless every stored value of ``expr`` has an equal ``target`` value."""
    cast = f"TRY_CAST({expr} AS {target})"
    bad = f"{expr} IS NOT NULL AND ({cast} IS NULL"
    bad += ")" if is_text(current) else f" OR CAST({cast} AS {current}) IS DISTINCT FROM {expr})"
    count = scalar(con, f"SELECT count(*) FROM {stored} WHERE {bad}")
    if not count:
        return
    total = scalar(con, f"SELECT count({expr}) FROM {stored}")
    sample = con.execute(
        f"SELECT DISTINCT CAST({expr} AS VARCHAR) AS v FROM {stored} WHERE {bad} ORDER BY v LIMIT 3"
    ).fetchall()
    shown = ", ".join(repr(v) for (v,) in sample)
    raise IngestError(
        f"{ref.qualified}: column `{column}` is {current}, and `columns: {{{column}: {target}}}` "
        f"in {req.config_file} asks for {target}, but {count} of its {total} stored values "
        f"are not {target} (e.g. {shown}). Nothing was changed and {req.name} was not loaded. "
        f"Either remove `{column}` from `columns:` (the column stays {current}; cast it in a "
        f"job), or correct those rows at the source and load them again; find them with "
        f'`civiclake query "SELECT * FROM {ref.qualified} WHERE {column} IS NOT NULL '
        f'AND TRY_CAST({column} AS {target}) IS NULL"`'
    )
