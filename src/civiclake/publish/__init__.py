"""The PostgreSQL warehouse BI tools read: ``civiclake publish``.

Each trusted dataset (and refined ones, by ``warehouse.zones``) becomes
``<dept>_<zone>.x`` and, for keyed datasets, ``x__history``; a day's publish
costs what the day changed (:mod:`civiclake.publish.datasets`); roles, GRANTs
and masked views come from the access policy (:mod:`civiclake.publish.roles`);
declared relationships become foreign keys (:mod:`civiclake.model`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from civiclake.publish.datasets import PublishResult
from civiclake.publish.exceptions import WarehouseError

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.storage import DatasetRef

__all__ = ["PublishResult", "WarehouseError", "publish", "publishable", "set_login_password"]


def warehouse_url(project: Project) -> str:
    url = project.config.warehouse.url
    if url is None:
        raise WarehouseError(
            f"no warehouse configured: add `warehouse: {{url: postgresql://user:${{PG_PASSWORD}}"
            f"@host:5432/db}}` to {project.config_path}"
        )
    return url.reveal()


def publishable(project: Project) -> list[DatasetRef]:
    """Catalog datasets in the published zones (``x__history``/``__rejected`` come with ``x``)."""
    from civiclake.history.engine import REJECTED_SUFFIX
    from civiclake.naming import HISTORY_SUFFIX

    zones = set(project.config.warehouse.zones)
    return [
        ref
        for ref in project.catalog_datasets()
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
    (a NOT VALID key, a skipped one) is appended to ``notes``. ``history`` overrides
    ``warehouse.history``.
    """
    from civiclake.access.policy import AccessPolicy
    from civiclake.config.secrets import REDACTOR
    from civiclake.model.publish import publish_relationships
    from civiclake.publish.datasets import Context, publish_dataset
    from civiclake.publish.roles import RoleNames, sync_roles
    from civiclake.publish.warehouse import Warehouse

    settings = project.config.warehouse
    warehouse = Warehouse(warehouse_url(project))
    policy = AccessPolicy.load(project)
    names = RoleNames(settings.role_prefix)
    results, failures = [], []
    with warehouse.connect() as conn:
        try:
            warehouse.ensure_state(conn)
            sync_roles(conn, policy, names)
            conn.commit()
        except Exception as exc:
            if not type(exc).__module__.startswith("psycopg"):
                raise
            raise WarehouseError(
                f"could not set up the warehouse's schemas and roles: {REDACTOR(str(exc))}; the "
                "user in `warehouse.url` needs CREATEROLE and CREATE on the database"
            ) from None
        with_history = settings.history if history is None else history
        ctx = Context(project, warehouse, conn, policy, names, with_history)
        for ref in datasets if datasets is not None else publishable(project):
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
    """Give ``user`` a new warehouse password; returns (login, password) — shown once."""
    import secrets

    from civiclake.access.policy import AccessPolicy
    from civiclake.publish.roles import RoleNames, set_password
    from civiclake.publish.warehouse import Warehouse

    AccessPolicy.load(project).principal(user)
    password = secrets.token_urlsafe(18)
    names = RoleNames(project.config.warehouse.role_prefix)
    with Warehouse(warehouse_url(project)).connect() as conn:
        login = set_password(conn, names, user, password)
        conn.commit()
    return login, password
