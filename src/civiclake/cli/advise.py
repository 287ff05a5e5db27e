"""``civiclake advise``: what to change per step, from the run history (see civiclake.advise)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt


def advise(
    since: Annotated[
        str, typer.Option(help="How far back to read the run history: 30d, 12h, 2w.")
    ] = "30d",
    format: Annotated[Literal["table", "json"], typer.Option(help="json for scripts.")] = "table",
    project_dir: ProjectOpt = None,
) -> None:
    """Right-size steps from their runs: memory, threads, incremental, schedule, compaction.

    Each piece of advice names the step (or dataset), what to change and the figures from
    the runs that show why. Steps need 3 successful runs in the window before they are judged.

    Example:

        civiclake advise --since 14d
    """
    import json
    from datetime import UTC, datetime

    from civiclake import advise as advice
    from civiclake.cli.commands import _project

    span = advice.parse_since(since)
    project = _project(project_dir)
    found = advice.advise(advice.gather(project, datetime.now(UTC) - span))
    if format == "json":
        print(json.dumps([a.to_dict() for a in found], indent=2, default=str))
        return
    console = out.console(wide_when_piped=True)
    if not found:
        console.print(f"No advice: every step judged in the last {since} looks right-sized.")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("step", "advice", "change", "evidence")
    for a in found:
        table.add_row(escape(a.subject), a.rule, escape(a.change), escape(a.evidence))
    console.print(table)
