"""Current-state tables from decoded events, through the history engine.

Every event carries its entity as it stands after the change, so each event is
a *version* of that entity: the current table's increment is the decoded rows'
payload columns (``prefix`` removed) plus the event's id, type and time
(``event_time``, the version column). The history engine gives ``x`` (latest),
``x__history`` and ``x_as_of(d)``; re-delivered events are recognised there
(same key, time and values) and late events slot into history at their own
time without overwriting a newer version.

A list column named in ``children`` (household members) becomes its own keyed
table, ``(parent key, child key)``:

1. every event adds one version of each child it lists, at the event's time
   (the list also stays a column of the parent table);
2. then the children are *reconciled* with their parent's newest version: a
   child still current in the child table but no longer listed by its
   parent's newest event (a person who left the household), or whose parent
   was removed, gets a delete version at that event's time.

So the child table's latest always equals the parent's latest list, whatever
order events arrived in. Within one batch, a child removed and the parent
updated again shows its removal at the batch's newest event of that parent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from civiclake.snapshots.sql import VALID_FROM, q
from civiclake.steps import Counts

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from civiclake.ingest.streams.config import ChildTable, CurrentTable
    from civiclake.project import Project
    from civiclake.snapshots import HistoryResult, HistorySpec
    from civiclake.storage import DatasetRef

EVENT_TIME = "event_time"
REMOVED = "removed"


def spec_of(table: CurrentTable) -> HistorySpec:
    from civiclake.snapshots import HistorySpec

    deleted = table.deleted if table.on_delete == "remove" else None
    # every event is a fact: a delete (a termination) stays a row of history, marked
    return HistorySpec(
        key=tuple(table.key), version=EVENT_TIME, deleted=deleted, deletes="new_record"
    )


def child_spec(child: ChildTable) -> HistorySpec:
    from civiclake.snapshots import HistorySpec

    return HistorySpec(
        key=(child.parent_key, *child.key),
        version=EVENT_TIME,
        deleted=REMOVED,
        deletes="new_record",
    )


def increment(con: duckdb.DuckDBPyConnection, decoded: str, table: CurrentTable) -> str:
    """SQL of the current table's increment from the decoded events relation ``decoded``."""
    names = [r[0] for r in con.sql(f"DESCRIBE {decoded}").fetchall()]
    payload = [n for n in names if n.startswith(table.prefix) and not n.startswith("_")]
    carried = [f"{q(src)} AS {q(dst)}" for src, dst in table.event_columns.items() if src in names]
    columns = [f"{q(n)} AS {q(n[len(table.prefix) :])}" for n in payload]
    lineage = [q(n) for n in names if n.startswith("_") and n not in ("_import_id", "_imported_at")]
    select = ", ".join([*columns, *carried, f"{q(table.version)} AS {EVENT_TIME}", *lineage])
    return f"SELECT {select} FROM {decoded}"


def children_increment(
    con: duckdb.DuckDBPyConnection, parent: str, table: CurrentTable, child: ChildTable
) -> str:
    """SQL of one child table's versions listed by the parent increment ``parent``."""
    described = con.sql(f"DESCRIBE {parent}").fetchall()
    kinds = {r[0]: str(r[1]) for r in described}
    if child.field not in kinds:
        from civiclake.ingest.exceptions import IngestError

        raise IngestError(
            f"child table field {child.field!r} is not a column of the events "
            f"(columns: {', '.join(sorted(kinds))})"
        )
    fields = con.sql(
        f"SELECT unnest(x, max_depth := 2) FROM (SELECT unnest({q(child.field)}) AS x "
        f"FROM {parent} LIMIT 0)"
    ).columns
    key = table.key[0]
    removed = (
        f"coalesce(({table.deleted}), false)"
        if table.on_delete == "remove" and (table.deleted)
        else "false"
    )
    members = ", ".join(f"m.{q(f)} AS {q(child.rename.get(f, f))}" for f in fields)
    return (
        f"SELECT p.{q(key)} AS {q(child.parent_key)}, {members}, p.{EVENT_TIME}, "
        f"CAST({removed} AS BOOLEAN) AS {REMOVED} "
        f"FROM (SELECT *, unnest({q(child.field)}) AS m FROM {parent}) AS p"
    )


def apply(
    project: Project,
    ref: DatasetRef,
    decoded: pa.Table,
    table: CurrentTable,
    *,
    app_id: str,
    import_id: str,
    producer: str,
    owner: str = "",
    pii: tuple[str, ...] = (),
) -> Counts:
    """Apply a batch of decoded events to ``ref`` and its child tables."""
    from civiclake.snapshots import apply_increment

    done = Counts()
    con = project.connections.open()
    try:
        con.register("decoded", decoded)
        sql = increment(con, "decoded", table)
        parent_rows = con.sql(sql).to_arrow_table()
        con.register("parent", parent_rows)
        child_rows = {
            name: con.sql(children_increment(con, "parent", table, child)).to_arrow_table()
            for name, child in table.children.items()
        }
    finally:
        con.close()
    result = apply_increment(
        project.catalog,
        ref,
        parent_rows,
        spec_of(table),
        app_id=app_id,
        import_id=import_id,
        producer=producer,
        description=f"Current state from the events of {producer} (history: {ref.name}__history)",
        owner=owner,
        pii=pii,
    )
    _count(done, result)
    for name, child in table.children.items():
        child_ref = ref.sibling(name)
        result = apply_increment(
            project.catalog,
            child_ref,
            child_rows[name],
            child_spec(child),
            app_id=f"{app_id}:{name}",
            import_id=import_id,
            producer=producer,
            description=f"`{child.field}` of {ref.qualified}, one row per "
            f"({child.parent_key}, {', '.join(child.key)})",
            owner=owner,
            pii=pii,
        )
        _count(done, result)
        tombstones = _reconcile(project, ref, child_ref, table, child, parent_rows)
        if tombstones is not None and tombstones.num_rows:
            result = apply_increment(
                project.catalog,
                child_ref,
                tombstones,
                child_spec(child),
                app_id=f"{app_id}:{name}:reconcile",
                import_id=import_id,
                producer=producer,
                owner=owner,
                pii=pii,  # re-registering without them untagged the child table's PII
            )
            _count(done, result)
    return done


def _reconcile(
    project: Project,
    parent_ref: DatasetRef,
    child_ref: DatasetRef,
    table: CurrentTable,
    child: ChildTable,
    batch: pa.Table,
) -> pa.Table | None:
    """Delete versions for children their parent's newest version no longer lists."""
    from civiclake.snapshots import latest_relation, open_history

    tables, layout = project.tables, project.layout
    parent = open_history(tables, layout.table_uri(parent_ref))
    children = open_history(tables, layout.table_uri(child_ref))
    if parent is None or children is None:
        return None
    key = table.key[0]
    child_id = child.key[0]
    source_id = next((s for s, d in child.rename.items() if d == child_id), child_id)
    con = project.connections.open()
    try:
        con.register("batch", batch.select([key]))
        parents = latest_relation(con, parent, "p", include_deleted=True)
        current = latest_relation(con, children, "c")
        newest = (
            f"SELECT p.{q(key)} AS k, p.{EVENT_TIME} AS t, p.{q('_deleted')} AS gone, "
            f"p.{q(child.field)} AS items FROM ({parents}) AS p "
            f"SEMI JOIN batch AS b ON p.{q(key)} = b.{q(key)}"
        )
        query = (
            f"SELECT c.* EXCLUDE ({EVENT_TIME}, {REMOVED}), lp.t AS {EVENT_TIME}, "
            f"true AS {REMOVED} "
            f"FROM ({current}) AS c JOIN ({newest}) AS lp ON c.{q(child.parent_key)} = lp.k "
            f"WHERE lp.t > c.{EVENT_TIME} AND (lp.gone OR NOT list_contains("
            f"list_transform(coalesce(lp.items, []), lambda x: x.{q(source_id)}), "
            f"c.{q(child_id)}))"
        )
        found = con.sql(query).to_arrow_table()
    finally:
        con.close()
    drop = [n for n in found.column_names if n.startswith("_") or n == VALID_FROM]
    return found.drop_columns(drop)


def _count(done: Counts, result: HistoryResult) -> None:
    done.add(
        Counts(
            versions=result.versions,
            duplicates=result.duplicates,
            rows_rejected=result.rejected,
            bytes_written=result.bytes_written,
            notes=list(result.notes),
        )
    )


__all__ = ["EVENT_TIME", "apply", "child_spec", "increment", "spec_of"]
