"""``civiclake model``: relationships between datasets (suggest, check, diagram)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

model_app = typer.Typer(
    help="Relationships between datasets, declared in models/relationships.yaml."
    "\n\nExample:\n\n    civiclake model check",
    no_args_is_help=True,
)


@model_app.command("suggest")
def suggest(
    min_overlap: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of values that must match.")
    ] = 0.9,
    write: Annotated[
        bool, typer.Option("--write", help="Append the suggestions to models/relationships.yaml.")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Propose relationships from `<name>_id` columns whose values are found in `<name>s`.

    Example:

        civiclake model suggest --write
    """
    from rich.table import Table

    from civiclake.model.relationships import write_relationships
    from civiclake.model.suggest import suggest as find
    from civiclake.project import Project

    proj = Project.load(project)
    found = find(proj, min_overlap=min_overlap)
    console = out.console()
    if not found:
        console.print("No new relationships to suggest.")
        return
    table = Table("relationship", "values matched", "distinct values")
    for s in found:
        table.add_row(s.line, f"{s.overlap:.0%}", f"{s.distinct:,}")
    console.print(table)
    if write:
        path = write_relationships(proj, [s.line for s in found])
        console.print(f"Added {out.plural(len(found), 'relationship')} to {path}")
    else:
        console.print("Add them with --write, or copy the lines into models/relationships.yaml.")


@model_app.command("check")
def check(
    strict: Annotated[bool, typer.Option(help="Exit 1 when a relationship has orphans.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Referential integrity of the declared relationships: orphan rows per relationship.

    Example:

        civiclake model check --strict
    """
    from rich.table import Table

    from civiclake.model.integrity import check_integrity
    from civiclake.model.relationships import load_relationships
    from civiclake.project import Project

    proj = Project.load(project)
    results = check_integrity(proj, load_relationships(proj))
    if not results:
        out.console().print("No relationships declared yet: `civiclake model suggest --write`.")
        return
    table = Table("relationship", "rows", "orphans", "examples")
    for r in results:
        style = "green" if r.ok else "yellow"
        table.add_row(
            str(r.relationship),
            f"{r.rows:,}",
            f"[{style}]{r.orphans:,}[/]",
            ", ".join(r.examples),
        )
    out.console().print(table)
    if strict and not all(r.ok for r in results):
        raise typer.Exit(1)


@model_app.command("diagram")
def diagram(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write a Markdown page here.")
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """The relationships as a Mermaid ER diagram (for the playbook).

    Example:

        civiclake model diagram -o playbook/model.md
    """
    from civiclake.model.diagram import mermaid
    from civiclake.model.relationships import load_relationships
    from civiclake.project import Project

    proj = Project.load(project)
    text = mermaid(proj, load_relationships(proj))
    if output is None:
        print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        "# How the datasets join\n\nDeclared in `models/relationships.yaml`; published as "
        "foreign keys in the warehouse.\n\n```mermaid\n" + text + "```\n"
    )
    out.console().print(f"Wrote {output}")
