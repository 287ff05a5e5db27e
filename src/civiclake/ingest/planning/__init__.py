"""The ``planning_api`` source: a Tascomi-style planning system pulled in daily increments.

Modules, in the order a run meets them: :mod:`.config` (the YAML settings),
:mod:`.auth` (the per-minute request signature), :mod:`.cursor` (which days
and pages to request, and what is remembered), :mod:`.source` (fetching
through :mod:`civiclake.ingest.rest` into landing, recording batches) and
:mod:`.load` (typing a batch and handing it to history). Nothing heavy is
imported here, so listing sources stays fast.
"""

from civiclake.ingest.planning.config import PlanningApiConfig, PlanningTable

__all__ = ["PlanningApiConfig", "PlanningTable"]
