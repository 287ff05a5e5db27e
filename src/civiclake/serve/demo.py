"""What the demo prints about serving: a curl line always, a psql line when PostgreSQL is set.

Kept here so ``demo/build.py`` needs one call::

    from civiclake.serve.demo import serving_demo
    for line in serving_demo(project):
        console.print(line, markup=False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from civiclake.project import Project

DEMO_ANALYST = "demo_analyst"


def serving_demo(
    project: Project, department: str = "housing", sql: str | None = None
) -> list[str]:
    """Give a demo analyst a role and a token; publish when a warehouse is configured.

    Returns the lines to print: how to start the API and a curl example with the
    analyst's token, then (with ``warehouse.url`` set) the psql line of the analyst's
    warehouse login after publishing.
    """
    from civiclake.access.policy import ALL_DEPARTMENTS, _login_name
    from civiclake.access.tokens import issue_token
    from civiclake.serve.app import curl_example

    store = project.store
    # adding a user turns access control on: whoever built the demo stays its admin
    owner = _login_name()
    if store.add_user(owner, description="built the demo"):
        store.set_grant(owner, ALL_DEPARTMENTS, "admin", True)
    store.add_user(DEMO_ANALYST)
    if department in project.departments:
        store.set_grant(DEMO_ANALYST, department, "analyst", False)
    _, token = issue_token(store, DEMO_ANALYST)
    settings = project.config.serve
    lines = [
        f"SQL API: civiclake serve --project {project.dir}   (as {DEMO_ANALYST}, "
        f"{department} analyst, PII masked), then:",
        curl_example(settings.host, settings.port, token, *([sql] if sql else [])),
    ]
    if project.config.warehouse.url is None:
        lines.append(
            "PostgreSQL warehouse: set `warehouse.url` in civiclake.yaml, then "
            "`civiclake publish` and `civiclake access login demo_analyst`"
        )
        return lines
    from urllib.parse import urlsplit

    from civiclake.publish import publish, set_login_password, warehouse_url

    results = publish(project)
    login, password = set_login_password(project, DEMO_ANALYST)
    parts = urlsplit(warehouse_url(project))
    lines.append(f"Published {len(results)} datasets to PostgreSQL; connect as the analyst:")
    lines.append(
        f"PGPASSWORD='{password}' psql 'host={parts.hostname} port={parts.port or 5432} "
        f"dbname={parts.path.lstrip('/')} user={login}'"
    )
    return lines
