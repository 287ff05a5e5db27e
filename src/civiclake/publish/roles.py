"""PostgreSQL roles, memberships, GRANTs and masked views — all derived from the access policy.

Nothing here decides access; it translates :class:`~civiclake.access.AccessPolicy`:

* ``public_ro`` reads ``unrestricted``; ``<dept>_ro`` (member of ``public_ro``)
  reads the department's published schemas; ``<dept>_pii`` (member of
  ``<dept>_ro``) also reads its PII columns unmasked. All are NOLOGIN groups.
* every policy user gets a LOGIN role of the same name (a person or a BI
  tool), member of ``public_ro`` and of ``<dept>_ro``/``<dept>_pii`` per grant
  (``*`` grants: every department). Memberships the policy no longer gives are
  revoked; logins of users that left are set NOLOGIN. Passwords are set only by
  `civiclake access login`, so none is stored anywhere else.
* a dataset without PII: its tables are granted to the department's group.
  With PII: the tables are granted to ``<dept>_pii`` only, and
  ``<dept>_<zone>_masked.<x>`` (and ``x__history``) are views with the PII
  columns masked the same way the SQL API masks them, granted to ``<dept>_ro``.

Role names carry ``warehouse.role_prefix`` because roles belong to the whole
server, not one database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from civiclake.access.policy import ALL_DEPARTMENTS, PUBLIC_DEPARTMENT
from civiclake.naming import sql_name
from civiclake.publish.warehouse import literal, q, qual

if TYPE_CHECKING:
    import psycopg

    from civiclake.access.policy import AccessPolicy
    from civiclake.storage import DatasetRef

USER_COMMENT = "civiclake user"
MASKED_SUFFIX = "_masked"


class RoleNames:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def public(self) -> str:
        return f"{self.prefix}public_ro"

    def reader(self, department: str) -> str:
        if department == PUBLIC_DEPARTMENT:
            return self.public
        return f"{self.prefix}{sql_name(department)}_ro"

    def pii(self, department: str) -> str:
        return f"{self.prefix}{sql_name(department)}_pii"

    def login(self, user: str) -> str:
        return f"{self.prefix}{user}"


def sync_roles(conn: psycopg.Connection[Any], policy: AccessPolicy, names: RoleNames) -> None:
    """Groups, logins and memberships as the policy says (one transaction)."""
    groups = [names.public]
    for dept in policy.departments:
        if dept != PUBLIC_DEPARTMENT:
            groups.append(names.reader(dept))
        groups.append(names.pii(dept))
    for role in groups:
        _create_role(conn, role, login=False)
    for dept in policy.departments:
        if dept != PUBLIC_DEPARTMENT:
            _grant_role(conn, names.public, names.reader(dept))
        _grant_role(conn, names.reader(dept), names.pii(dept))
    managed = set(groups)
    for user, grants in policy.users.items():
        login = names.login(user)
        _create_role(conn, login, login=True)
        conn.execute(f"COMMENT ON ROLE {q(login)} IS {literal(USER_COMMENT)}")
        wanted = {names.public}
        for grant in grants:
            depts = (
                policy.departments if grant.department == ALL_DEPARTMENTS else [grant.department]
            )
            for dept in depts:
                wanted.add(names.pii(dept) if grant.pii else names.reader(dept))
        current = _memberships(conn, login) & managed
        for role in sorted(wanted - current):
            _grant_role(conn, role, login)
        for role in sorted(current - wanted):
            conn.execute(f"REVOKE {q(role)} FROM {q(login)}")
    for login in _managed_logins(conn, names.prefix):
        if login not in {names.login(u) for u in policy.users}:
            for role in sorted(_memberships(conn, login) & managed):
                conn.execute(f"REVOKE {q(role)} FROM {q(login)}")
            conn.execute(f"ALTER ROLE {q(login)} NOLOGIN")


def dataset_access(
    conn: psycopg.Connection[Any],
    policy: AccessPolicy,
    names: RoleNames,
    ref: DatasetRef,
    tables: Sequence[str],
    columns: dict[str, list[str]],
) -> None:
    """GRANTs and masked views for one published dataset (inside its publish transaction).

    ``tables`` are the names published in ``ref.schema`` (``x``, ``x__history``);
    ``columns`` their column names in order.
    """
    reader = names.reader(ref.department)
    info = policy.datasets.get(ref.qualified)
    pii = [c for c in (info.pii if info else ()) if any(c in cols for cols in columns.values())]
    conn.execute(f"GRANT USAGE ON SCHEMA {q(ref.schema)} TO {q(reader)}")
    listed = ", ".join(qual(ref.schema, t) for t in tables)
    conn.execute(f"REVOKE ALL ON {listed} FROM PUBLIC")
    if not pii:
        conn.execute(f"GRANT SELECT ON {listed} TO {q(reader)}")
        return
    conn.execute(f"REVOKE SELECT ON {listed} FROM {q(reader)}")
    conn.execute(f"GRANT SELECT ON {listed} TO {q(names.pii(ref.department))}")
    masked_schema = ref.schema + MASKED_SUFFIX
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(masked_schema)}")
    conn.execute(f"GRANT USAGE ON SCHEMA {q(masked_schema)} TO {q(reader)}")
    for table in tables:
        select = ", ".join(
            f"{_pending_mask(c)} AS {q(c)}" if c in pii else q(c) for c in columns[table]
        )
        view = qual(masked_schema, table)
        conn.execute(f"DROP VIEW IF EXISTS {view}")
        conn.execute(f"CREATE VIEW {view} AS SELECT {select} FROM {qual(ref.schema, table)}")
        conn.execute(f"GRANT SELECT ON {view} TO {q(reader)}")


def set_password(conn: psycopg.Connection[Any], names: RoleNames, user: str, password: str) -> str:
    """Let ``user`` log in with ``password`` (PostgreSQL keeps only its SCRAM hash)."""
    login = names.login(user)
    _create_role(conn, login, login=True)
    conn.execute(f"ALTER ROLE {q(login)} WITH LOGIN PASSWORD {literal(password)}")
    return login


def _create_role(conn: psycopg.Connection[Any], role: str, *, login: bool) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        conn.execute(f"CREATE ROLE {q(role)} {'LOGIN' if login else 'NOLOGIN'} INHERIT")
    elif login:
        conn.execute(f"ALTER ROLE {q(role)} LOGIN")


def _grant_role(conn: psycopg.Connection[Any], role: str, member: str) -> None:
    conn.execute(f"GRANT {q(role)} TO {q(member)}")


def _memberships(conn: psycopg.Connection[Any], login: str) -> set[str]:
    rows = conn.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        (login,),
    ).fetchall()
    return {r[0] for r in rows}


def _managed_logins(conn: psycopg.Connection[Any], prefix: str) -> list[str]:
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolcanlogin "
        "AND shobj_description(oid, 'pg_authid') = %s AND rolname LIKE %s",
        (USER_COMMENT, prefix.replace("_", r"\_") + "%"),
    ).fetchall()
    return [r[0] for r in rows]


def _pending_mask(column: str) -> str:
    # TODO(issue 11): the warehouse receives values masked by civiclake.access.masking
    return f"CASE WHEN {q(column)} IS NULL THEN NULL ELSE '***' END"
