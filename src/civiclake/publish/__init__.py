"""The PostgreSQL warehouse BI tools read: ``civiclake publish``.

Each trusted dataset (and refined ones, by ``warehouse.zones``) becomes
``<dept>_<zone>.x`` and, for keyed datasets, ``x__history``; a day's publish
costs what the day changed (:mod:`civiclake.publish.datasets`); roles, GRANTs
and masked views come from the access policy (:mod:`civiclake.publish.roles`);
declared relationships become foreign keys (:mod:`civiclake.model`). The
service account is checked at every connect (:mod:`civiclake.publish.account`).

Besides :func:`publish`: :func:`sync_access` applies the policy's roles at once
(after `civiclake access revoke` or a removed user), :func:`set_login_password`
(`civiclake access login`), :func:`bootstrap_sql` (with :func:`bootstrap_script`'s
header: `civiclake warehouse bootstrap`), the one-time setup a DBA runs,
:func:`check_service_account` and :func:`drop_published` (`civiclake datasets prune`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from civiclake.naming import HISTORY_SUFFIX
from civiclake.publish.datasets import PublishResult
from civiclake.publish.exceptions import ServiceAccountRefused, WarehouseError

if TYPE_CHECKING:
    import psycopg

    from civiclake.access.policy import AccessPolicy
    from civiclake.project import Project
    from civiclake.publish.account import Account
    from civiclake.publish.roles import RoleNames
    from civiclake.publish.warehouse import Warehouse
    from civiclake.storage import DatasetRef

__all__ = [
    "PublishResult",
    "ServiceAccountRefused",
    "WarehouseError",
    "bootstrap_script",
    "bootstrap_sql",
    "check_service_account",
    "drop_published",
    "publish",
    "publishable",
    "role_names",
    "set_login_password",
    "sync_access",
]


def warehouse_url(project: Project) -> str:
    url = project.config.warehouse.url
    if url is None:
        raise WarehouseError(
            f"no warehouse configured: add `warehouse: {{url: postgresql://user:${{PG_PASSWORD}}"
            f"@host:5432/db}}` to {project.config_path}"
        )
    return url.reveal()


def role_names(project: Project, database: str | None = None) -> RoleNames:
    """This project's role namespace in ``database`` (default: the one in ``warehouse.url``)."""
    from civiclake.publish.account import url_parts
    from civiclake.publish.roles import RoleNames

    if database is None:
        database = url_parts(warehouse_url(project))[1]
    return RoleNames.for_project(
        project.config.name, database, project.config.warehouse.role_prefix
    )


def bootstrap_sql(project: Project) -> str:
    """The SQL a DBA runs once, as a superuser, so the service account needs no CREATEROLE.

    For the DBA to run in the warehouse database (``psql -v ON_ERROR_STOP=1 -f
    bootstrap.sql``): it creates the namespace's role-admin role and functions for the
    service account of ``warehouse.url``. It holds no password, so it can be printed.
    """
    from civiclake.publish.account import bootstrap_sql as make
    from civiclake.publish.account import url_parts

    service, database = url_parts(warehouse_url(project))
    return make(role_names(project, database), service, database)


def bootstrap_script(project: Project) -> str:
    """:func:`bootstrap_sql` under a header telling the DBA who runs it and what it grants.

    What `civiclake warehouse bootstrap` prints: the file is handed to someone else (the
    DBA), who should not need civiclake's docs to know what they are running as a
    superuser. The header names the service account it demotes, because running it for
    an account the DBA administers the server with would take that account's rights away.
    """
    from civiclake.publish.account import FUNCTIONS_SCHEMA, url_parts

    service, database = url_parts(warehouse_url(project))
    names = role_names(project, database)
    lines = [
        f"civiclake warehouse bootstrap for project {project.config.name!r}",
        "",
        "Who runs it: a DBA, once, as a PostgreSQL superuser, connected to the database",
        f"{database!r}:  psql -v ON_ERROR_STOP=1 'dbname={database}' -f bootstrap.sql",
        "Rerunning it is harmless. It holds no password: afterwards set the service",
        f"account's with  \\password {service}",
        "",
        "What it grants:",
        f"- {names.admin}: a new NOLOGIN role with CREATEROLE and no members (nobody",
        "  can log in as it or SET ROLE to it); it owns four SECURITY DEFINER functions",
        f"  in {FUNCTIONS_SCHEMA} (ensure_role, set_login, set_password, drop_role) that",
        f"  act only on roles named {names.prefix}* carrying this project's comment.",
        f"- {service} (the account in warehouse.url): EXECUTE on those functions, USAGE on",
        f"  {FUNCTIONS_SCHEMA}, CREATE on database {database}. It is made NOSUPERUSER",
        "  NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS, so it must be a dedicated",
        "  service account, never the one you administer the server with.",
        "Nothing else: no predefined role (pg_execute_server_program, pg_read_server_files…)",
        "and no access to other databases. See docs/serving.md#service-account.",
    ]
    header = "".join(f"-- {line}".rstrip() + "\n" for line in lines)
    return header + "\n" + bootstrap_sql(project)


def check_service_account(project: Project) -> Account:
    """Connect to the warehouse and check its service account, changing nothing.

    For callers that would rather explain a refusal than fail on it halfway (the demo):
    raises :class:`ServiceAccountRefused` with the reason, exactly as a publish would.
    """
    with _session(project) as (_, _conn, _names, account):
        return account


def sync_access(project: Project) -> list[str]:
    """Apply the access policy's roles and memberships to the warehouse now; returns notes.

    For `civiclake access revoke` and `civiclake access user remove` when
    ``warehouse.url`` is set: a departed user's login is dropped at once rather than at
    the next publish. (Memberships are checked per query, so revoked ones bite at once
    even in a session that is already open.)
    """
    from civiclake.access.policy import AccessPolicy

    policy = AccessPolicy.load(project)
    with _session(project) as (warehouse, conn, names, account):
        return _setup(warehouse, conn, policy, names, account)


def drop_published(
    project: Project, refs: Sequence[DatasetRef], *, dry_run: bool = False
) -> dict[str, list[str]]:
    """Drop what the warehouse holds of ``refs`` in one transaction; returns it by dataset.

    For `civiclake datasets prune`: a dataset whose job is gone must stop being readable
    in PostgreSQL too, not only on disk. Each dataset's ``x`` and ``x__history``, their
    masked views in ``<schema>_masked`` and the published marker go together, or nothing
    does. Tables are dropped without CASCADE: an object civiclake did not make that
    depends on one (a BI user's view) stops the drop with its name, rather than vanishing.
    civiclake's own foreign keys to and from the tables go first. ``dry_run`` only lists.
    """
    import psycopg

    from civiclake.config.secrets import REDACTOR
    from civiclake.publish.relationships import drop_foreign_keys
    from civiclake.publish.roles import MASKED_SUFFIX
    from civiclake.publish.warehouse import STATE_SCHEMA, qual

    found: dict[str, list[str]] = {}
    with _session(project) as (_, conn, _names, _account):
        marker = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (qual(STATE_SCHEMA, "published"),)
        ).fetchone()
        has_marker = bool(marker and marker[0])
        plan: list[tuple[DatasetRef, list[tuple[str, str, str]], bool]] = []
        for ref in refs:
            names = [ref.name, ref.name + HISTORY_SUFFIX]
            objects = conn.execute(
                "SELECT n.nspname, c.relname, CASE WHEN c.relkind = 'v' THEN 'view' "
                "ELSE 'table' END FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = ANY(%s) AND ((n.nspname = %s AND c.relkind IN ('r', 'p')) "
                "OR (n.nspname = %s AND c.relkind = 'v')) ORDER BY 3 DESC, 1, 2",
                (names, ref.schema, ref.schema + MASKED_SUFFIX),
            ).fetchall()
            recorded = has_marker and bool(
                conn.execute(
                    f"SELECT 1 FROM {qual(STATE_SCHEMA, 'published')} WHERE dataset = %s",
                    (ref.qualified,),
                ).fetchone()
            )
            listed = [f"{kind} {schema}.{name}" for schema, name, kind in objects]
            if recorded:
                listed.append(f"published marker ({STATE_SCHEMA}.published)")
            plan.append((ref, [(s, n, k) for s, n, k in objects], recorded))
            found[ref.qualified] = listed
        conn.rollback()
        if dry_run:
            return found
        try:
            for ref, objects, recorded in plan:
                for schema, name, kind in objects:  # views first: they depend on the tables
                    if kind == "view":
                        conn.execute(f"DROP VIEW {qual(schema, name)}")
                for schema, name, kind in objects:
                    if kind == "table":
                        drop_foreign_keys(conn, schema, name)
                        conn.execute(f"DROP TABLE {qual(schema, name)}")
                if recorded:
                    conn.execute(
                        f"DELETE FROM {qual(STATE_SCHEMA, 'published')} WHERE dataset = %s",
                        (ref.qualified,),
                    )
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            why = exc.diag.message_primary or str(exc)
            if exc.diag.message_detail:
                why += f" ({exc.diag.message_detail})"
            raise WarehouseError(
                f"nothing was dropped in the warehouse (one transaction, rolled back): "
                f"{REDACTOR(why).strip()}; drop or change that object first (as its owner), "
                "then prune again"
            ) from None
    for qualified in found:
        project.store.clear_publish_state(qualified)
    return found


def publishable(project: Project) -> list[DatasetRef]:
    """Catalog datasets in the published zones (``x__history``/``__rejected`` come with ``x``)."""
    from civiclake.naming import HISTORY_SUFFIX
    from civiclake.snapshots import REJECTED_SUFFIX

    zones = set(project.config.warehouse.zones)
    return [
        ref
        for ref in project.catalog.datasets()
        if ref.zone in zones
        and not ref.name.endswith(HISTORY_SUFFIX)
        and not ref.name.endswith(REJECTED_SUFFIX)
    ]


def publish(
    project: Project,
    *,
    full: bool = False,
    datasets: Sequence[DatasetRef] | None = None,
    progress: Callable[[PublishResult], None] | None = None,
    notes: list[str] | None = None,
    history: bool | None = None,
) -> list[PublishResult]:
    """Publish ``datasets`` (default: every publishable one); each in its own transaction.

    Roles and memberships are synced first, so a revoked grant takes effect even when
    no data changed. A dataset that fails is rolled back and reported after the others.
    Declared relationships become foreign keys at the end; what could not be done well
    (a NOT VALID key, a skipped one, a login kept NOLOGIN) is appended to ``notes``.
    ``history`` overrides ``warehouse.history``. PII to hash without a masking key is a
    :class:`~civiclake.exceptions.ConfigError` before anything is touched.
    """
    from civiclake.access.policy import AccessPolicy
    from civiclake.config.secrets import REDACTOR
    from civiclake.publish.datasets import Context, publish_dataset
    from civiclake.publish.relationships import publish_relationships

    settings = project.config.warehouse
    policy = AccessPolicy.load(project)
    chosen = list(datasets) if datasets is not None else publishable(project)
    infos = [policy.datasets.get(ref.qualified) for ref in chosen]
    if any(info is not None and info.pii for info in infos):
        policy.masker.check()
    results, failures = [], []
    with _session(project) as (warehouse, conn, names, account):
        setup_notes = _setup(warehouse, conn, policy, names, account)
        if notes is not None:
            notes.extend(setup_notes)
        with_history = settings.history if history is None else history
        sentinel = settings.valid_to_sentinel
        ctx = Context(
            project,
            warehouse,
            conn,
            policy,
            names,
            with_history,
            sentinel.isoformat(sep=" ") if sentinel is not None else None,
        )
        for ref in chosen:
            try:
                result = publish_dataset(ctx, ref, full=full)
            except WarehouseError as exc:
                failures.append(str(exc))
                continue
            results.append(result)
            if result.mode != "unchanged":
                state = warehouse.published(conn, ref.qualified)
                conn.commit()
                if state is not None:
                    project.store.set_publish_state(
                        ref.qualified,
                        delta_version=state.delta_version,
                        max_seq=state.max_seq,
                        rows=result.rows_written,
                        mode=result.mode,
                    )
            if progress is not None:
                progress(result)
        try:
            found = publish_relationships(project, conn)
        except Exception as exc:
            if not type(exc).__module__.startswith("psycopg"):
                raise
            conn.rollback()
            found = [f"foreign keys not published: {REDACTOR(str(exc)).strip()}"]
        if notes is not None:
            notes.extend(found)
    if failures:
        raise WarehouseError("; ".join(failures))
    return results


def set_login_password(project: Project, user: str) -> tuple[str, str]:
    """Give ``user`` a new warehouse password; returns (login, password) — shown once.

    Only a user with a grant has a login (the next role sync would drop any other).
    """
    import secrets

    from civiclake.access.policy import AccessPolicy
    from civiclake.publish.roles import set_password

    policy = AccessPolicy.load(project)
    if not policy.principal(user).grants:
        raise WarehouseError(
            f"{user} has no grants, so no warehouse login (the next publish would drop it); "
            f"grant a role first: `civiclake access grant {user} --department <dept> "
            "--role analyst`"
        )
    password = secrets.token_urlsafe(18)
    with _session(project) as (warehouse, conn, names, account):
        _setup(warehouse, conn, policy, names, account)
        login = set_password(conn, names, account, user, password)
        conn.commit()
    return login, password


@contextmanager
def _session(
    project: Project,
) -> Iterator[tuple[Warehouse, psycopg.Connection[Any], RoleNames, Account]]:
    """A warehouse connection whose account passed the privilege check, and the namespace."""
    from civiclake.publish.account import check_account
    from civiclake.publish.warehouse import Warehouse

    warehouse = Warehouse(warehouse_url(project))
    with warehouse.connect() as conn:
        names = role_names(project, conn.info.dbname)
        account = check_account(conn, names)
        conn.commit()
        yield warehouse, conn, names, account


def _setup(
    warehouse: Warehouse,
    conn: psycopg.Connection[Any],
    policy: AccessPolicy,
    names: RoleNames,
    account: Account,
) -> list[str]:
    """The state schema, then groups, logins and memberships (committed); returns notes."""
    from civiclake.config.secrets import REDACTOR
    from civiclake.publish.roles import sync_roles

    try:
        warehouse.ensure_state(conn)
        notes = sync_roles(conn, policy, names, account)
        conn.commit()
    except Exception as exc:
        conn.rollback()
        if not type(exc).__module__.startswith("psycopg"):
            raise
        raise WarehouseError(
            f"could not set up the warehouse's schemas and roles: {REDACTOR(str(exc)).strip()}; "
            "the service account needs CREATE on the database and the role functions a DBA "
            "installs with `civiclake warehouse bootstrap` (or CREATEROLE on PostgreSQL 16+), see "
            "docs/serving.md#service-account"
        ) from None
    return notes
