"""Errors of the PostgreSQL warehouse.

::

    CivicLakeError
    └── WarehouseError            publishing failed; the previous tables are still served
        └── WarehouseUnreachable  (a TransientError too) the server did not answer
"""

from __future__ import annotations

from civiclake.exceptions import CivicLakeError, TransientError


class WarehouseError(CivicLakeError):
    """Publishing to the warehouse failed; each dataset is atomic, so readers see the old one."""


class WarehouseUnreachable(WarehouseError, TransientError):
    """The warehouse could not be reached: worth retrying."""
