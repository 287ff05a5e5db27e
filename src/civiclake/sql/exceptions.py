"""Errors of the SQL surface.

::

    CivicLakeError
    └── SqlRejected      the text is not one allowed query; ``code`` names the rule

The guard (:mod:`civiclake.access.guard`) turns these into
:class:`~civiclake.access.guard.SqlRefused`, jobs into definition errors.
"""

from __future__ import annotations

from civiclake.exceptions import CivicLakeError


class SqlRejected(CivicLakeError):
    """SQL that breaks a rule of the surface; ``code`` is stable (the API's error code)."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.details = details
        """What callers word their own advice from: ``statements`` (how many), ``kind``
        (the statement that is not a query), ``line``/``column`` and ``reason`` of a
        parse error."""
