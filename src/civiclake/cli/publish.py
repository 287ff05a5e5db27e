"""``civiclake publish`` and ``civiclake access login``: the PostgreSQL warehouse."""

from __future__ import annotations

from typing import Annotated

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt


def publish(
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset",
            "-d",
            help="Only this dataset (repeatable), e.g. housing_trusted.tenancies.",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Reload completely instead of applying changes.")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Copy the latest trusted (and, by config, refined) datasets into the PostgreSQL warehouse.

    Keyed datasets get their changes since the last publish, by key; others are reloaded when
    they changed. Each dataset is one transaction. Roles, GRANTs and masked PII views follow
    the access policy.

    Example:

        civiclake publish --dataset housing_trusted.tenancies
    """
    from civiclake.exceptions import ConfigError
    from civiclake.project import Project
    from civiclake.publish import PublishResult
    from civiclake.publish import publish as run_publish

    proj = Project.load(project)
    refs = None
    if dataset:
        refs = []
        for name in dataset:
            ref = proj.parse_dataset(name)
            if ref is None:
                raise ConfigError(f"{name!r} is not a dataset (`civiclake datasets` lists them)")
            refs.append(ref)
    console = out.console()

    def show(result: PublishResult) -> None:
        detail = (
            f"{result.rows_written:,} rows written, {result.rows_deleted:,} replaced"
            if result.mode != "unchanged"
            else "no change"
        )
        console.print(f"{result.dataset}: {result.mode}, {detail}, {out.seconds(result.seconds)}")

    notes: list[str] = []
    results = run_publish(proj, full=full, datasets=refs, progress=show, notes=notes)
    for note in notes:
        console.print(f"  note: {note}", markup=False)
    console.print(f"Published {out.plural(len(results), 'dataset')}.")


def login(
    user: Annotated[str, typer.Argument(help="The user (or BI tool) to give a password.")],
    project: ProjectOpt = None,
) -> None:
    """Set a new warehouse password for a user and print a psql line (shown once).

    Example:

        civiclake access login powerbi
    """
    from urllib.parse import urlsplit

    from civiclake.project import Project
    from civiclake.publish import set_login_password, warehouse_url

    proj = Project.load(project)
    login_name, password = set_login_password(proj, user)
    parts = urlsplit(warehouse_url(proj))
    out.console(stderr=True).print(f"Warehouse login {login_name} (password shown once):")
    print(
        f"PGPASSWORD='{password}' psql 'host={parts.hostname} port={parts.port or 5432} "
        f"dbname={parts.path.lstrip('/')} user={login_name}'"
    )
