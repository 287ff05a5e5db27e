"""Simulators of the source systems councils feed in, for tests, demos and load trials.

A simulator behaves like the real system from the outside (same protocol, same
quirks, same failures) and is deterministic from a seed, so a test can compare
what a connector loaded with the simulator's ground truth.

* :mod:`civiclake.simulators.planning` — a Tascomi-style planning REST API
  (``civiclake simulate planning-api``).

Nothing here is imported by ``civiclake`` itself; each simulator is imported
when it is used.
"""

from __future__ import annotations

from civiclake.exceptions import CivicLakeError


class SimulatorError(CivicLakeError):
    """A simulator was set up wrongly; the message names the setting and its allowed values."""


__all__ = ["SimulatorError"]
