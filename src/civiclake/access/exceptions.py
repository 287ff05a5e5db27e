"""Errors of the access policy.

::

    CivicLakeError
    └── AccessError          the policy cannot answer (unknown user, bad grant)
        └── AccessDenied     the policy said no: the message says why and who can change it
"""

from __future__ import annotations

from civiclake.exceptions import CivicLakeError


class AccessError(CivicLakeError):
    """An access request or grant is invalid (unknown user, role or department)."""


class AccessDenied(AccessError):
    """The policy refuses: the caller may not read this dataset or run this SQL."""
