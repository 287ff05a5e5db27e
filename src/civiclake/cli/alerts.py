"""``civiclake alerts``: open incidents, a test message per channel, a freshness check now."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

alerts_app = typer.Typer(
    help="Alerts: open incidents, test a channel, check freshness now (for cron)."
    "\n\nExample:\n\n    civiclake alerts list --all",
    no_args_is_help=True,
)


@alerts_app.command("list")
def list_incidents(
    all_: Annotated[
        bool, typer.Option("--all", help="Closed incidents too, newest first.")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Open incidents (failed steps, failed checks, overdue data), newest first.

    Example:

        civiclake alerts list --all
    """
    from rich.table import Table

    from civiclake.alerts import incidents
    from civiclake.cli.status import _ago
    from civiclake.project import Project

    proj = Project.load(project)
    found = incidents(proj, include_closed=all_)
    con = out.console(wide_when_piped=True)
    if not found:
        con.print("No incidents." if all_ else "No open incidents.")
        return
    table = Table(title="Incidents" if all_ else "Open incidents")
    for column in ("id", "department", "kind", "subject", "opened", "state", "alert", "message"):
        table.add_column(column)
    for i in found:
        state = f"closed {_ago(i.closed_at)}" if i.closed_at else "[red]open[/]"
        sent = "sent" if i.notified_at else "[yellow]not sent[/]"
        if i.closed_at and i.notified_at:
            sent += ", recovery " + ("sent" if i.recovery_notified_at else "[yellow]not sent[/]")
        table.add_row(
            str(i.id),
            i.department,
            i.kind,
            i.subject,
            _ago(i.opened_at),
            state,
            sent,
            i.message[:120],
        )
    con.print(table)


@alerts_app.command("test")
def test(
    channel: Annotated[
        str | None,
        typer.Argument(help="One channel from alerts.channels; every channel when omitted."),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Send a test message, to check a webhook or SMTP setup.

    Example:

        civiclake alerts test housing-team
    """
    from civiclake.alerts import send_test
    from civiclake.project import Project

    proj = Project.load(project)
    con = out.console()
    results = send_test(proj, channel)
    for name, problem in results.items():
        if problem is None:
            con.print(f"[green]sent[/] a test message on {name}")
        else:
            con.print(f"[red]not sent[/]: {problem}")
    if any(results.values()):
        sys.exit(1)


@alerts_app.command("check")
def check(project: ProjectOpt = None) -> None:
    """Evaluate freshness targets now and send what is due (for cron without the scheduler).

    Example:

        civiclake alerts check
    """
    from civiclake.alerts import check_freshness
    from civiclake.project import Project

    proj = Project.load(project)
    con = out.console()
    result = check_freshness(proj)
    for incident in result.opened:
        con.print(f"[red]overdue[/]: {incident.subject}: {incident.message}")
    for incident in result.closed:
        con.print(f"[green]fresh again[/]: {incident.subject}")
    for channel, event, ident in result.sent:
        con.print(f"sent {event} for incident {ident} on {channel}")
    for line in result.failed:
        con.print(f"[yellow]not delivered (retried next time)[/]: {line}")
    if not (result.opened or result.closed or result.sent or result.failed):
        con.print("Nothing new: no data newly overdue or fresh again, nothing left to send.")
