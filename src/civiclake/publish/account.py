"""What the warehouse's service account may do, checked before anything is published.

The account in ``warehouse.url`` owns the published tables and manages the project's
roles. Handing it ``CREATEROLE`` is the obvious setup and, before PostgreSQL 16, a
dangerous one: a PG ≤ 15 ``CREATEROLE`` role can grant itself *any* non-superuser
role, ``pg_execute_server_program`` (shell commands as the server's OS user) and
``pg_read_server_files`` included, so whoever holds the warehouse password holds the
database server. PostgreSQL 16 limits ``CREATEROLE`` to the roles it created.

So :func:`check_account` runs at every connect and refuses a superuser, an account
that holds (or may grant) a predefined role that reaches outside the database, and a
``CREATEROLE`` account on a server older than 16. What it accepts:

* **functions** (any version, the only way before 16): a DBA runs
  :func:`bootstrap_sql` once. It makes a NOLOGIN ``<prefix>_roleadmin`` with
  ``CREATEROLE`` that nobody can log in as or become, and four ``SECURITY DEFINER``
  functions it owns in ``_civiclake_roles``, executable by the service account only.
  They create, enable, re-password and drop roles of this project's namespace and
  nothing else — each checks the name's prefix and the ownership comment civiclake
  put on the role, in the server, where the service account cannot skip the check.
  Group roles are created with ADMIN OPTION for the service account, so it grants
  and revokes memberships itself. The service account needs no ``CREATEROLE``.
* **direct** (PostgreSQL 16 and later): a ``CREATEROLE`` account, which there can
  only administer the roles it created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from civiclake.naming import literal
from civiclake.publish.exceptions import ServiceAccountRefused, WarehouseError
from civiclake.publish.warehouse import q

if TYPE_CHECKING:
    import psycopg

    from civiclake.publish.roles import RoleNames

FUNCTIONS_SCHEMA = "_civiclake_roles"
DANGEROUS_ROLES = (
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_read_all_data",
    "pg_write_all_data",
)
"""Predefined roles that reach the server's files and programs, or every table of every
database: the service account must neither hold nor be able to grant any of them."""
PG16 = 160000

Mode = Literal["functions", "direct"]


@dataclass(frozen=True)
class Account:
    name: str
    server_version: int
    mode: Mode


def check_account(conn: psycopg.Connection[Any], names: RoleNames) -> Account:
    """Refuse a service account that could escape the database; say how roles are managed."""
    row = conn.execute(
        "SELECT current_user, rolsuper, rolcreaterole, current_setting('server_version_num')::int "
        "FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row is not None
    user, superuser, createrole, version = row
    fix = f"have a DBA run the bootstrap SQL that `civiclake warehouse bootstrap` prints ({_see})"
    if superuser:
        raise ServiceAccountRefused(
            f"the warehouse account {user!r} is a superuser: a leaked warehouse password would "
            f"give away the database server. Use an ordinary account: {fix}",
            account=user,
            reason="superuser",
        )
    held = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND "
        "(pg_has_role(current_user, oid, 'MEMBER') "
        "OR pg_has_role(current_user, oid, 'MEMBER WITH ADMIN OPTION')) ORDER BY 1",
        (list(DANGEROUS_ROLES),),
    ).fetchall()
    if held:
        listed = ", ".join(r[0] for r in held)
        raise ServiceAccountRefused(
            f"the warehouse account {user!r} holds or may grant {listed}, which reach the "
            f"server's files, programs or every database; revoke them "
            f"(`REVOKE {', '.join(r[0] for r in held)} FROM {q(user)}`)",
            account=user,
            reason="dangerous_roles",
        )
    functions = conn.execute(
        "SELECT has_function_privilege(current_user, p.oid, 'EXECUTE') FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s "
        "AND p.proname = 'ensure_role'",
        (FUNCTIONS_SCHEMA,),
    ).fetchone()
    if functions is not None and functions[0]:
        if createrole and version < PG16:
            raise ServiceAccountRefused(
                _createrole_message(user, version, fix), account=user, reason="createrole"
            )
        return Account(user, version, "functions")
    if not createrole:
        raise ServiceAccountRefused(
            f"the warehouse account {user!r} cannot manage the project's roles: {fix}",
            account=user,
            reason="no_role_management",
        )
    if version < PG16:
        raise ServiceAccountRefused(
            _createrole_message(user, version, fix), account=user, reason="createrole"
        )
    return Account(user, version, "direct")


_see = "docs/serving.md#service-account"


def _createrole_message(user: str, version: int, fix: str) -> str:
    return (
        f"the warehouse account {user!r} has CREATEROLE on PostgreSQL {version // 10000}, "
        "where CREATEROLE can grant any non-superuser role — pg_execute_server_program "
        f"(shell commands on the server) included. Remove it (`ALTER ROLE {q(user)} "
        f"NOCREATEROLE`) and {fix}"
    )


def url_parts(url: str) -> tuple[str, str]:
    """(user, database) of a ``postgresql://`` URL (libpq's default: the database is the user)."""
    parts = urlsplit(url)
    user = unquote(parts.username or "")
    database = unquote(parts.path.lstrip("/")) or user
    if not user:
        raise WarehouseError("`warehouse.url` names no user: postgresql://user:…@host/db")
    return user, database


def bootstrap_sql(names: RoleNames, service: str, database: str) -> str:
    """The one-time SQL a DBA runs (as a superuser, in ``database``) for a safe setup.

    Idempotent: rerunning it replaces the functions and changes nothing else. It holds no
    password; the DBA sets the service account's with ``\\password``.
    """
    admin = names.admin
    owner = names.owner
    prefix = names.prefix
    svc = q(service)
    tag = literal(owner + " (")
    body_check = f"""
  IF role_name IS NULL OR left(role_name, {len(prefix)}) <> {literal(prefix)}
     OR role_name !~ '^[a-z0-9_.-]+$' OR octet_length(role_name) > 63 THEN
    RAISE EXCEPTION 'civiclake: % is not a role name of this project', role_name;
  END IF;
  SELECT shobj_description(oid, 'pg_authid') INTO comment_ FROM pg_roles
   WHERE rolname = role_name;
  exists_ := FOUND;"""
    owned_login = f"""
  IF NOT exists_ OR comment_ IS DISTINCT FROM {tag} || 'login)' THEN
    RAISE EXCEPTION 'civiclake: role % is not a login of this project', role_name;
  END IF;"""

    def function(name: str, args: str, body: str) -> str:
        return (
            f"CREATE OR REPLACE FUNCTION {FUNCTIONS_SCHEMA}.{name}({args}) RETURNS void\n"
            "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS "
            f"$civiclake$\nDECLARE comment_ text; exists_ boolean;\nBEGIN{body_check}{body}\n"
            f"END $civiclake$;\n"
            f"ALTER FUNCTION {FUNCTIONS_SCHEMA}.{name}({args}) OWNER TO {q(admin)};\n"
            f"REVOKE ALL ON FUNCTION {FUNCTIONS_SCHEMA}.{name}({args}) FROM PUBLIC;\n"
            f"GRANT EXECUTE ON FUNCTION {FUNCTIONS_SCHEMA}.{name}({args}) TO {svc};\n"
        )

    ensure = f"""
  IF kind NOT IN ('group', 'login') THEN
    RAISE EXCEPTION 'civiclake: kind must be group or login';
  END IF;
  IF exists_ THEN
    IF comment_ IS DISTINCT FROM {tag} || kind || ')' THEN
      RAISE EXCEPTION 'civiclake: role % exists and is not a civiclake % of this project '
        '(its comment: %)', role_name, kind, coalesce(comment_, 'none');
    END IF;
    RETURN;
  END IF;
  EXECUTE format('CREATE ROLE %I NOLOGIN INHERIT', role_name);
  EXECUTE format('COMMENT ON ROLE %I IS %L', role_name, {tag} || kind || ')');
  IF kind = 'group' THEN
    EXECUTE format('GRANT %I TO %I WITH ADMIN OPTION', role_name, {literal(service)});
  END IF;"""
    set_login = (
        owned_login
        + """
  IF allowed THEN
    EXECUTE format('ALTER ROLE %I LOGIN', role_name);
  ELSE
    EXECUTE format('ALTER ROLE %I NOLOGIN PASSWORD NULL', role_name);
  END IF;"""
    )
    set_password = (
        owned_login
        + """
  IF verifier !~ '^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
    RAISE EXCEPTION 'civiclake: a password must arrive as a SCRAM-SHA-256 verifier';
  END IF;
  EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', role_name, verifier);"""
    )
    drop = (
        owned_login
        + """
  EXECUTE format('DROP ROLE %I', role_name);"""
    )
    create_admin = (
        f"DO $civiclake$ BEGIN\n"
        f"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {literal(admin)}) THEN\n"
        f"    CREATE ROLE {q(admin)} NOLOGIN CREATEROLE;\n"
        f"  END IF;\n"
        f"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {literal(service)}) THEN\n"
        f"    CREATE ROLE {svc} LOGIN;\n"
        f"  END IF;\n"
        f"END $civiclake$;\n"
    )
    return (
        f"-- civiclake warehouse bootstrap: project namespace {prefix!r}, database "
        f"{database!r}, service account {service!r}.\n"
        "-- Run once as a superuser in that database (psql -v ON_ERROR_STOP=1 -f …); then\n"
        f"-- set the service account's password with \\password {service}.\n"
        "BEGIN;\n" + create_admin + f"ALTER ROLE {q(admin)} NOLOGIN CREATEROLE NOSUPERUSER;\n"
        f"COMMENT ON ROLE {q(admin)} IS {literal(owner + ' (admin)')};\n"
        f"ALTER ROLE {svc} NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;\n"
        f"GRANT CREATE ON DATABASE {q(database)} TO {svc};\n"
        f"CREATE SCHEMA IF NOT EXISTS {FUNCTIONS_SCHEMA} AUTHORIZATION {q(admin)};\n"
        f"REVOKE ALL ON SCHEMA {FUNCTIONS_SCHEMA} FROM PUBLIC;\n"
        f"GRANT USAGE ON SCHEMA {FUNCTIONS_SCHEMA} TO {svc};\n"
        + function("ensure_role", "role_name text, kind text", ensure)
        + function("set_login", "role_name text, allowed boolean", set_login)
        + function("set_password", "role_name text, verifier text", set_password)
        + function("drop_role", "role_name text", drop)
        + "COMMIT;\n"
    )


def safe_owner_text(text: str) -> str:
    """Project and database names as they appear in ownership comments (no quotes or $)."""
    return re.sub(r"[^\w .-]", "_", text)
