"""A simulated repairs-scheduling system ("DRS"-style): its database, changed as the real one is.

:class:`RepairsSimulator` creates ``properties``, ``operatives``, ``work_orders`` and
``appointments`` in any SQLAlchemy database (PostgreSQL in tests, SQLite in the embedded
demo) and changes them in 15-minute cycles the way a busy scheduling system does — including
what makes naive syncs miss changes (../shared/reference/source-systems.md §3):

* **long transactions** whose rows carry the ``updated_at`` of when they started but become
  visible only when they commit, one or several cycles later (real open transactions on
  PostgreSQL; on SQLite, whose single writer would block everything, the writes are held back
  and applied later with their original timestamps — what a reader sees is the same);
* **updates that do not bump** ``updated_at`` (a status fixed by a back-office script);
* **hard deletes** of cancelled work orders and their appointments;
* **clock skew**: one of the application servers stamps ``updated_at`` minutes behind.

``civiclake simulate repairs-db`` runs it from the command line.
"""

from __future__ import annotations

from civiclake.simulators.repairs.world import TABLES, CycleReport, RepairsSimulator

__all__ = ["TABLES", "CycleReport", "RepairsSimulator"]
