"""Who may read what: users, roles per department, PII grants, and the SQL guard.

:mod:`civiclake.access.policy` decides; every door (CLI, SQL API, PostgreSQL
warehouse) asks it. See ``docs/access.md``.
"""

from civiclake.access.exceptions import AccessDenied, AccessError
from civiclake.access.guard import CheckedQuery, SqlRefused, check_sql
from civiclake.access.policy import ROLES, AccessPolicy, Grant, Principal

__all__ = [
    "ROLES",
    "AccessDenied",
    "AccessError",
    "AccessPolicy",
    "CheckedQuery",
    "Grant",
    "Principal",
    "SqlRefused",
    "check_sql",
]
