"""Snapshots: keyed datasets kept as every version, with latest and as-of one query away.

A keyed dataset is one Delta table in tiers (:mod:`.sql` lays them out); this package is
all that reads or writes them, through narrow ports — the catalog (where tables are and
how they are recorded, which holds the table store and connection factory) — so any
engine can reuse it. Its public face:

* writing: :func:`apply_increment`, :func:`compact`, :func:`rebuild`, :func:`rewrite`;
* reading: :func:`open_history` (a table's tiers and spec), :func:`latest_relation`,
  :func:`history_relation`, :func:`as_of_relation`, :func:`as_known_relation`,
  :func:`diff_relation` (SQL over a table's files), and
  :func:`changes_since` (versions after a ``_seq``, for publishing).

Modules: ``spec`` (what a table keeps), ``table`` (a table as stored, and its relations),
``apply`` (increments), ``write`` (committing parts), ``compact``, ``rebuild``, ``sql``.
"""

from civiclake.snapshots.apply import apply_increment, register, rewrite
from civiclake.snapshots.compact import compact
from civiclake.snapshots.rebuild import rebuild
from civiclake.snapshots.spec import (
    REJECTED_SUFFIX,
    HistoryError,
    HistoryResult,
    HistorySpec,
    naive_utc,
)
from civiclake.snapshots.table import (
    HistoryTable,
    as_known_relation,
    as_of_relation,
    changes_since,
    diff_relation,
    history_relation,
    latest_relation,
    max_seq,
    open_history,
    parquet_relation,
    relations,
    spec_of,
)

__all__ = [
    "REJECTED_SUFFIX",
    "HistoryError",
    "HistoryResult",
    "HistorySpec",
    "HistoryTable",
    "apply_increment",
    "as_known_relation",
    "as_of_relation",
    "changes_since",
    "compact",
    "diff_relation",
    "history_relation",
    "latest_relation",
    "max_seq",
    "naive_utc",
    "open_history",
    "parquet_relation",
    "rebuild",
    "register",
    "relations",
    "rewrite",
    "spec_of",
]
