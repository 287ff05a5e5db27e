"""``civiclake diff``: what changed in a keyed dataset between two times (civiclake.query)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

if TYPE_CHECKING:
    from civiclake.query import Diff


def diff(
    dataset: Annotated[str, typer.Argument(help="A keyed dataset: <department>_<zone>.<dataset>.")],
    since: Annotated[
        str, typer.Argument(help="The earlier time: 2026-03-01 (its end) or '2026-03-01 16:00'.")
    ],
    until: Annotated[str, typer.Argument(help="The later time, written the same way.")],
    known: Annotated[
        bool,
        typer.Option(
            "--known",
            help="Compare what the dataset showed at those moments (recorded time) rather "
            "than what was true then (valid time).",
        ),
    ] = False,
    limit: Annotated[int, typer.Option(help="Changed keys shown in table format.")] = 20,
    format: Annotated[
        Literal["table", "csv", "json"],
        typer.Option("--format", "-f", help="csv or json: the full list, one row per key."),
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the full list to this file.")
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Compare as this user once access control is on (default: $CIVICLAKE_USER, "
            "then your login name).",
        ),
    ] = None,
    project_dir: ProjectOpt = None,
) -> None:
    """Show the rows added, removed and changed in a keyed dataset between two times.

    Counts first (and the columns most often changed, and column changes), then a
    sample; csv or json print every changed key with its old and new values. The same
    comparison is the SQL table function <dataset>_diff(t1, t2).

    Example:

        civiclake diff housing_raw.rent_accounts 2026-02-01 2026-03-01
    """
    from civiclake.cli.commands import _project
    from civiclake.query import run_diff, write_result

    project = _project(project_dir)
    found = run_diff(project, dataset, since, until, known=known, user=as_user)
    if format == "table" and output is None:
        _print(found, limit)
        return
    rows = write_result(found.rows.to_reader(), "csv" if format == "table" else format, output)
    if output is not None:
        out.console(stderr=True).print(f"wrote {rows:,} changed keys to {output}")


def _print(found: Diff, limit: int) -> None:
    from rich.markup import escape

    console = out.console(wide_when_piped=True)
    clock = "as shown (recorded time)" if found.known else "by valid time"
    console.print(f"{escape(found.dataset)} {clock}, {found.since} → {found.until}")
    c = found.counts
    console.print(f"added {c['added']:,} · removed {c['removed']:,} · changed {c['changed']:,}")
    if found.columns:
        often = ", ".join(f"{escape(name)} ({n:,})" for name, n in found.columns[:5])
        console.print(f"most often changed: {often}")
    for change in found.schema_changes:
        types = " → ".join(t for t in (change.get("old_type"), change.get("new_type")) if t)
        console.print(
            f"column {escape(str(change['change']))}: {escape(str(change['column_name']))}"
            f" {escape(types)} (recorded {change['changed_at']:%Y-%m-%d %H:%M})"
        )
    if found.rows.num_rows:
        console.print(out.arrow_table(found.rows, max_rows=limit))
