"""PostgreSQL roles, memberships, GRANTs and masked views — all derived from the access policy.

Nothing here decides access; it translates :class:`~civiclake.access.AccessPolicy`:

* ``public_ro`` reads ``unrestricted``; ``<dept>_ro`` (member of ``public_ro``)
  reads the department's published schemas; ``<dept>_pii`` (member of
  ``<dept>_ro``) also reads its PII columns unmasked. All are NOLOGIN groups.
* every policy user with a grant gets a LOGIN role (a person or a BI tool),
  member of ``public_ro`` and of ``<dept>_ro``/``<dept>_pii`` per grant (``*``
  grants: every department). Memberships the policy no longer gives are revoked.
  A user who left, or whose every grant was revoked, loses the login: it is
  dropped, or — when it still holds privileges in another database, which DROP
  ROLE refuses — left NOLOGIN, without password or memberships. Passwords are set
  only by `civiclake access login` and reach PostgreSQL as a SCRAM verifier
  computed here, so the password itself is in no SQL text or server log.
* a dataset without PII: its tables are granted to the department's group.
  With PII: the tables are granted to ``<dept>_pii`` only, and
  ``<dept>_<zone>_masked.<x>`` (and ``x__history``) are views granted to
  ``<dept>_ro`` that show, under each PII column's name, the masked copy civiclake
  computed while publishing (:mod:`civiclake.publish.masks`) — no key, salt or
  hash function in the view text, which every login can read in ``pg_views``.

**Namespace.** Roles belong to the whole server, not to one database, so two
projects (or one project's test and live databases) on one server would share
``hana`` and ``housing_ro`` — and each publish would revoke the other's
memberships. Every role name therefore starts with a prefix derived from the
project's and the database's names (``warehouse.role_prefix`` overrides it), and
every role civiclake creates carries the comment ``civiclake project <p> db <d>
(group|login)``. A role with the right name but another comment — another
project's, or one civiclake never made — is refused, never altered, granted or
dropped; the sweep of departed users looks at this project's comment only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from civiclake.access.policy import ALL_DEPARTMENTS, PUBLIC_DEPARTMENT
from civiclake.naming import literal, sql_name
from civiclake.publish.account import FUNCTIONS_SCHEMA, Account, safe_owner_text
from civiclake.publish.exceptions import WarehouseError
from civiclake.publish.masks import is_masked_column, masked_column
from civiclake.publish.warehouse import q, qual

if TYPE_CHECKING:
    import psycopg

    from civiclake.access.policy import AccessPolicy
    from civiclake.storage import DatasetRef

MASKED_SUFFIX = "_masked"
MAX_NAME_BYTES = 63
"""PostgreSQL truncates longer identifiers silently, which would merge two roles."""
MAX_PREFIX_CHARS = 30


def default_prefix(project: str, database: str) -> str:
    """``<project>_<db>_``, lowercase and SQL-safe; long names shortened with a hash."""
    clean = [
        re.sub(r"[^a-z0-9_]+", "_", part.lower()).strip("_") or "x" for part in (project, database)
    ]
    prefix = f"{clean[0]}_{clean[1]}_"
    if len(prefix) > MAX_PREFIX_CHARS:
        digest = hashlib.sha256(f"{project}\0{database}".encode()).hexdigest()[:8]
        prefix = f"{clean[0][:10]}_{clean[1][:9]}_{digest}_"
    if not (prefix[0].isalpha() or prefix[0] == "_"):
        prefix = "c" + prefix
    return prefix


def _sql_safe(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "x"


class RoleNames:
    """The names of one project's roles on one server, and the comment marking them its own."""

    def __init__(self, prefix: str, owner: str) -> None:
        self.prefix = prefix
        self.owner = owner

    @classmethod
    def for_project(cls, project: str, database: str, override: str | None) -> RoleNames:
        prefix = default_prefix(project, database) if override is None else override
        owner = f"civiclake project {safe_owner_text(project)} db {safe_owner_text(database)}"
        return cls(prefix, owner)

    def _name(self, suffix: str) -> str:
        name = self.prefix + suffix
        if len(name.encode()) > MAX_NAME_BYTES:
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            name = name.encode()[: MAX_NAME_BYTES - 9].decode(errors="ignore") + "_" + digest
        return name

    @property
    def public(self) -> str:
        return self._name("public_ro")

    @property
    def admin(self) -> str:
        """The NOLOGIN role owning the bootstrap functions (a leading ``_``: no user's name)."""
        return self._name("_roleadmin")

    def reader(self, department: str) -> str:
        if department == PUBLIC_DEPARTMENT:
            return self.public
        return self._name(f"{sql_name(department)}_ro")

    def pii(self, department: str) -> str:
        return self._name(f"{sql_name(department)}_pii")

    def login(self, user: str) -> str:
        return self._name(user)

    def comment(self, kind: str) -> str:
        return f"{self.owner} ({kind})"


class Roles:
    """Creates, enables and drops this namespace's roles — refusing any it does not own.

    In ``functions`` mode every change goes through the bootstrap's SECURITY DEFINER
    functions (which check ownership again, in the server); in ``direct`` mode
    (PostgreSQL 16+, a CREATEROLE account) it is plain DDL.
    """

    def __init__(self, conn: psycopg.Connection[Any], names: RoleNames, account: Account) -> None:
        self.conn = conn
        self.names = names
        self.functions = account.mode == "functions"

    def comment_of(self, role: str) -> tuple[bool, str | None]:
        row = self.conn.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (role,)
        ).fetchone()
        return (False, None) if row is None else (True, row[0])

    def check_owned(self, role: str, kind: str) -> bool:
        """Whether ``role`` exists; raise unless it is this project's ``kind`` of role."""
        exists, comment = self.comment_of(role)
        if exists and comment != self.names.comment(kind):
            if comment and comment.startswith("civiclake project "):
                whose = f"belongs to another civiclake namespace ({comment!r})"
            else:
                whose = "was not created by civiclake for this project"
            raise WarehouseError(
                f"the PostgreSQL role {role!r} already exists and {whose}, so civiclake will "
                f"not alter, grant or drop it (this project's roles are commented "
                f"{self.names.comment(kind)!r}). Set `warehouse.role_prefix` to a prefix of "
                "this project's own, or have a DBA rename that role"
            )
        return exists

    def ensure(self, role: str, kind: str) -> None:
        if self.check_owned(role, kind):
            return
        if self.functions:
            self.conn.execute(f"SELECT {FUNCTIONS_SCHEMA}.ensure_role(%s, %s)", (role, kind))
            return
        self.conn.execute(f"CREATE ROLE {q(role)} NOLOGIN INHERIT")
        self.conn.execute(f"COMMENT ON ROLE {q(role)} IS {literal(self.names.comment(kind))}")

    def set_login(self, role: str, allowed: bool) -> None:
        self.check_owned(role, "login")
        if self.functions:
            self.conn.execute(f"SELECT {FUNCTIONS_SCHEMA}.set_login(%s, %s)", (role, allowed))
        else:
            self.conn.execute(
                f"ALTER ROLE {q(role)} " + ("LOGIN" if allowed else "NOLOGIN PASSWORD NULL")
            )

    def set_password(self, role: str, verifier: str) -> None:
        self.check_owned(role, "login")
        if self.functions:
            self.conn.execute(f"SELECT {FUNCTIONS_SCHEMA}.set_password(%s, %s)", (role, verifier))
        else:
            self.conn.execute(f"ALTER ROLE {q(role)} LOGIN PASSWORD {literal(verifier)}")

    def drop(self, role: str) -> bool:
        """Drop a login; False (and nothing changed) when it still holds privileges somewhere."""
        import psycopg

        self.check_owned(role, "login")
        try:
            with self.conn.transaction():
                if self.functions:
                    self.conn.execute(f"SELECT {FUNCTIONS_SCHEMA}.drop_role(%s)", (role,))
                else:
                    self.conn.execute(f"DROP ROLE {q(role)}")
        except psycopg.errors.DependentObjectsStillExist:
            return False
        return True

    def owned_logins(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = %s",
            (self.names.comment("login"),),
        ).fetchall()
        return sorted(r[0] for r in rows)


def sync_roles(
    conn: psycopg.Connection[Any], policy: AccessPolicy, names: RoleNames, account: Account
) -> list[str]:
    """Groups, logins and memberships as the policy says (one transaction); returns notes.

    A user without grants has no login: everything the policy lets a user read in the
    warehouse comes through a grant's department groups, and ``civiclake access revoke
    <user>`` (every grant) is how an admin takes someone's access away. Logins are
    created NOLOGIN; `civiclake access login` sets the password and LOGIN together.
    """
    roles = Roles(conn, names, account)
    groups = [names.public]
    for dept in policy.departments:
        if dept != PUBLIC_DEPARTMENT:
            groups.append(names.reader(dept))
        groups.append(names.pii(dept))
    for role in groups:
        roles.ensure(role, "group")
    for dept in policy.departments:
        if dept != PUBLIC_DEPARTMENT:
            _grant_role(conn, names.public, names.reader(dept))
        _grant_role(conn, names.reader(dept), names.pii(dept))
    managed = set(groups)
    active = {names.login(u): g for u, g in policy.users.items() if g}
    for login, grants in sorted(active.items()):
        roles.ensure(login, "login")
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
    notes = []
    for login in roles.owned_logins():
        if login in active:
            continue
        for role in sorted(_memberships(conn, login) & managed):
            conn.execute(f"REVOKE {q(role)} FROM {q(login)}")
        roles.set_login(login, False)
        if roles.drop(login):
            notes.append(f"dropped the warehouse login {login} (no grants left)")
        else:
            notes.append(
                f"the warehouse login {login} has no grants left; it still holds privileges in "
                "another database, so it was set NOLOGIN without password or memberships "
                "instead of dropped"
            )
    return notes


def scram_verifier(conn: psycopg.Connection[Any], login: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password``, computed by libpq on this side."""
    verifier = conn.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
    return verifier.decode()


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
    ``columns`` their column names in order, masked copies included. The views show
    each PII column's masked copy under the column's own name and hide the copies.
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
        present = set(columns[table])
        select = ", ".join(
            (
                q(c)
                if c not in pii
                else f"{q(masked_column(c))} AS {q(c)}"
                if masked_column(c) in present
                else f"{_redacted(c)} AS {q(c)}"
            )
            for c in columns[table]
            if not is_masked_column(c)
        )
        view = qual(masked_schema, table)
        conn.execute(f"DROP VIEW IF EXISTS {view}")
        conn.execute(f"CREATE VIEW {view} AS SELECT {select} FROM {qual(ref.schema, table)}")
        conn.execute(f"GRANT SELECT ON {view} TO {q(reader)}")


def set_password(
    conn: psycopg.Connection[Any], names: RoleNames, account: Account, user: str, password: str
) -> str:
    """Let ``user`` log in with ``password`` (PostgreSQL keeps only its SCRAM hash)."""
    roles = Roles(conn, names, account)
    login = names.login(user)
    roles.ensure(login, "login")
    roles.set_password(login, scram_verifier(conn, login, password))
    return login


def _grant_role(conn: psycopg.Connection[Any], role: str, member: str) -> None:
    conn.execute(f"GRANT {q(role)} TO {q(member)}")


def _memberships(conn: psycopg.Connection[Any], login: str) -> set[str]:
    rows = conn.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        (login,),
    ).fetchall()
    return {r[0] for r in rows}


def _redacted(column: str) -> str:
    """A PII column published before its masked copy existed: shown as ``***``, never raw."""
    return f"CASE WHEN {q(column)} IS NULL THEN NULL ELSE '***' END"
