"""A simulated Tascomi-style planning system: its data and its REST API.

* :class:`PlanningWorld` (:mod:`.world`) — seeded tables that change day by
  day, with every version kept as ground truth for tests;
* :class:`PlanningSimulator` (:mod:`.server`) — that world served like the
  real API (signed requests, paging, ``last_updated`` increments, 202 for
  nothing, late updates) with injectable :class:`Faults` (:mod:`.faults`);
* ``civiclake simulate planning-api`` runs it from the command line.

The module docstrings of :mod:`.world` and :mod:`.server` describe the data and
the protocol in full.
"""

from __future__ import annotations

from civiclake.simulators.planning.faults import Faults
from civiclake.simulators.planning.server import PlanningSimulator
from civiclake.simulators.planning.world import (
    APPLICATION_COLUMNS,
    NEW_COLUMN,
    TABLES,
    PlanningWorld,
)

__all__ = [
    "APPLICATION_COLUMNS",
    "NEW_COLUMN",
    "TABLES",
    "Faults",
    "PlanningSimulator",
    "PlanningWorld",
]
