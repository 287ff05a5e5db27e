"""Compaction: fold ``recent`` into ``base`` and retire what it replaces to ``archive-<n>``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from civiclake.snapshots import sql
from civiclake.snapshots.sql import ARCHIVE, BASE, PART, RECENT, q
from civiclake.snapshots.table import open_history, relations
from civiclake.snapshots.write import _write, connect

if TYPE_CHECKING:
    from collections.abc import Callable

    FileRelation = Callable[[Sequence["DataFile"]], str]
    """A tier's files as a SQL relation (``read_parquet`` unless a session says otherwise)."""

    from civiclake.catalog import Catalog
    from civiclake.storage import DatasetRef
    from civiclake.storage.delta import DataFile


# -- compaction -----------------------------------------------------------------
COMPACT_OPERATION = "history-compact"
"""The ``civiclake.operation`` a compaction's commit carries; its vacuum follows."""


def _maybe_compact(catalog: Catalog, uri: str, *, ratio: float = 0.25, force: bool = False) -> bool:
    table = open_history(catalog.tables, uri)
    if table is None or not table.recent:
        return False
    if not force and not table.needs_compaction(ratio):
        return False
    con = connect(catalog)
    try:
        base, recent, _ = relations(con, table, "compact")
        assert recent is not None
        archive = f"{ARCHIVE}-{table.version + 1}"
        columns = ", ".join(q(c) for c in table.columns)
        setup, new_base, retired = sql.compaction(base, recent, table.spec.key)
        for statement in setup:
            con.execute(statement)
        written = _write(
            catalog,
            con,
            uri,
            {
                BASE: f"SELECT {columns} FROM ({new_base})",
                archive: f"SELECT {columns} FROM ({retired})",
            },
            table.spec,
            removed=[*table.base, *table.recent],
            predicate=f"{q(PART)} IN ('{BASE}', '{RECENT}', '{archive}')",
            metadata={"civiclake.operation": COMPACT_OPERATION},
        )
    finally:
        con.close()
    # readers rebind to the new files when the catalog moves on; the replaced files stay
    # for ``storage.keep_replaced_files_hours`` so queries that opened them still finish
    catalog.moved(uri, written.version)
    catalog.tables.vacuum(uri)
    return True


def finish_interrupted(catalog: Catalog, uri: str) -> bool:
    """Vacuum after a compaction whose process stopped between its commit and its vacuum.

    Called when a batch turns out to be applied already — the re-run after a crash — so the
    table's versions (and the ``_seq`` of later increments) are those of a run that was
    never interrupted; a normal apply pays nothing for it.
    """
    if catalog.tables.last_commit(uri).get("civiclake.operation") != COMPACT_OPERATION:
        return False
    catalog.tables.vacuum(uri)
    return True


def compact(catalog: Catalog, ref: DatasetRef, *, force: bool = True) -> bool:
    """Fold ``recent`` into ``base`` now (``force``) or only past the threshold."""
    return _maybe_compact(catalog, catalog.uri(ref), force=force)
