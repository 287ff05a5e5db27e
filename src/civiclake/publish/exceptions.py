"""Errors of the PostgreSQL warehouse.

::

    CivicLakeError
    └── WarehouseError            publishing failed; the previous tables are still served
        ├── WarehouseUnreachable  (a Transient too)   the server did not answer
        └── ServiceAccountRefused the account in warehouse.url may do too much (or too little)
"""

from __future__ import annotations

from civiclake.exceptions import CivicLakeError, Transient


class WarehouseError(CivicLakeError):
    """Publishing to the warehouse failed; each dataset is atomic, so readers see the old one."""


class WarehouseUnreachable(WarehouseError, Transient):
    """The warehouse could not be reached: worth retrying."""


class ServiceAccountRefused(WarehouseError):
    """The service account failed the privilege check; nothing was touched.

    ``reason`` says why, so a caller can explain the fix (the demo prints the bootstrap
    steps): ``superuser``, ``createrole`` (CREATEROLE before PostgreSQL 16),
    ``dangerous_roles`` (holds or may grant a predefined role reaching the server's
    files or programs) or ``no_role_management`` (neither the bootstrap nor CREATEROLE).
    """

    def __init__(self, message: str, *, account: str, reason: str) -> None:
        super().__init__(message)
        self.account = account
        self.reason = reason
