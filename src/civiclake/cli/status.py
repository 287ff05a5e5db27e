"""``civiclake status`` and ``civiclake reconcile``.

``status`` answers "is my data fresh and whole?" per source: its last run, and for a
database source each table's cursor and last reconciliation (what it found and repaired),
for a stream source each partition's committed offset, lag and rate.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

if TYPE_CHECKING:
    from civiclake.alerts import Freshness
    from civiclake.project import Project


def status(
    source: Annotated[
        str | None, typer.Argument(help="Only this source, e.g. repairs/drs.", show_default=False)
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Overdue sources and datasets first (freshness targets), then each source's last run,
    database cursors and reconciliations, stream lag.

    Example:

        civiclake status repairs/drs
    """
    from civiclake.alerts import freshness
    from civiclake.project import Project
    from civiclake.runner.plan import discover

    proj = Project.load(project)
    con = out.console(wide_when_piped=True)
    from civiclake.steps import Broken

    steps = [s for s in discover(proj) if not isinstance(s, Broken)]
    every = [s for s in steps if s.definition.kind == "source"]
    sources = [s for s in every if source is None or s.definition.name == source]
    if source is not None and not sources:
        from civiclake.config.suggest import did_you_mean
        from civiclake.exceptions import ConfigError

        names = [s.definition.name for s in every]
        raise ConfigError(
            f"no source {source!r}{did_you_mean(source, names)}; sources: {', '.join(names)}"
        )
    chosen = [s.definition for s in steps if source in (None, s.definition.name)]
    targets = {f.step: f for f in freshness(proj, definitions=chosen)}
    if targets:
        con.print(_freshness_table(list(targets.values())))
    overdue = {name for name, f in targets.items() if f.overdue}
    sources.sort(key=lambda s: s.definition.name not in overdue)  # overdue first, else as found
    con.print(_sources_table(proj, sources, targets))
    for node in sources:
        if node.definition.capabilities.reconcile:
            con.print(_database_table(proj, node))
    partitions = [p for p in proj.store.stream_partitions() if source in (None, p["source"])]
    if partitions:
        con.print(_streams_table(partitions))


def _last_steps(project: Project) -> dict[str, dict[str, Any]]:
    """The newest recorded step of each node."""
    import sqlalchemy as sa

    from civiclake.metadata import schema as t

    steps = t.run_steps
    newest = sa.select(steps.c.node, sa.func.max(steps.c.id).label("id")).group_by(steps.c.node)
    sub = newest.subquery()
    query = sa.select(steps).join(sub, steps.c.id == sub.c.id)
    with project.store.engine.connect() as conn:
        return {r.node: dict(r._mapping) for r in conn.execute(query)}


def _freshness_table(targets: list[Freshness]) -> Any:
    """Every step with a freshness target, overdue ones first and marked."""
    from rich.table import Table

    overdue = sum(f.overdue for f in targets)
    title = f"Freshness: {overdue} overdue" if overdue else "Freshness: all within target"
    table = Table(title=title)
    for column in ("", "step", "datasets", "freshness"):
        table.add_column(column)
    for f in targets:
        mark = "[bold red]OVERDUE[/]" if f.overdue else "[green]ok[/]"
        table.add_row(mark, f.step, ", ".join(f.datasets) or "-", f.describe())
    return table


def _sources_table(
    project: Project, sources: list[Any], targets: dict[str, Freshness] | None = None
) -> Any:
    from rich.table import Table

    steps = _last_steps(project)
    targets = targets or {}
    table = Table(title="Sources")
    columns = ("source", "type", "schedule", "freshness", "last run", "status", "rows in", "note")
    for column in columns:
        table.add_column(column)
    for node in sources:
        d = node.definition
        step = steps.get(d.name)
        status = step["status"] if step else "never run"
        colour = {"success": "green", "succeeded": "green", "failed": "red"}.get(status, "yellow")
        target = targets.get(d.name)
        fresh = "-"
        if target is not None:
            fresh = target.describe()
            if target.overdue:
                fresh = f"[bold red]OVERDUE[/] {fresh}"
        table.add_row(
            d.name,
            d.type,
            d.schedule or "-",
            fresh,
            _ago(step["ended_at"] or step["started_at"]) if step else "-",
            f"[{colour}]{status}[/]",
            out.count(step["rows_in"]) if step else "-",
            (step.get("error") or "")[:80] if step else "",
        )
    return table


def _database_table(project: Project, node: Any) -> Any:
    from rich.table import Table

    from civiclake.ingest.database.sync import TableState

    reports: dict[str, dict[str, Any]] = {}
    for row in project.store.reconciliations(node.name, limit=200):
        reports.setdefault(row["dataset"], row)
    table = Table(title=f"{node.name}: tables")
    for column in ("table", "dataset", "cursor (source clock)", "last reconciliation", "found"):
        table.add_column(column)
    table.add_column("repaired")
    for name in node.config.tables:
        state = TableState.from_json(project.store.get_cursor(node.name, name))
        ref = node.dataset(name)
        report = reports.get(ref.qualified)
        found = repaired = "-"
        when = "never"
        if report:
            when = f"{_ago(report['ended_at'])} ({report['ranges_compared']} ranges)"
            found = _kinds(report, "found") or "nothing"
            repaired = _kinds(report, "repaired") or "-"
        table.add_row(name, ref.qualified, state.cursor or "-", when, found, repaired)
    return table


def _kinds(report: dict[str, Any], what: str) -> str:
    parts = [
        f"{report[f'{kind}_{what}']} {kind}"
        for kind in ("missing", "stale", "deleted")
        if report[f"{kind}_{what}"]
    ]
    return ", ".join(parts)


def _streams_table(partitions: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="Streams")
    for column in ("source", "topic", "partition", "next offset", "lag", "events/s", "last event"):
        table.add_column(column)
    for p in partitions:
        table.add_row(
            p["source"],
            p["topic"],
            str(p["partition"]),
            out.count(p["committed_offset"]),
            out.count(p["lag"]),
            out.count(p["events_per_second"]),
            _ago(p["last_event_at"]) if p["last_event_at"] else "-",
        )
    return table


def _ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return when.strftime("%Y-%m-%d %H:%M")


def reconcile(
    source: Annotated[str, typer.Argument(help="The database source, e.g. repairs/drs.")],
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only these tables (repeatable).")
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Compare a database source's tables with the source now and repair what differs.

    Example:

        civiclake reconcile repairs/drs --table jobs
    """
    from civiclake.cli.render import print_summary
    from civiclake.config.suggest import did_you_mean
    from civiclake.exceptions import ConfigError
    from civiclake.project import Project
    from civiclake.runner.plan import discover
    from civiclake.runner.runner import Runner
    from civiclake.steps import Action

    proj = Project.load(project)
    nodes: dict[str, Any] = {
        s.definition.name: s
        for s in discover(proj, ["sources"])
        if s.definition.capabilities.reconcile
    }
    node = nodes.get(source)
    if node is None:
        raise ConfigError(
            f"no database source {source!r}{did_you_mean(source, nodes)}"
            + (f"; sources that reconcile: {', '.join(nodes)}" if nodes else "")
        )
    for name in table or []:
        if name not in node.config.tables:
            raise ConfigError(
                f"{node.config_file} has no table {name!r}{did_you_mean(name, node.config.tables)}"
            )
    step = Action(
        name=f"{node.department}/reconcile-{node.source_name}",
        department=node.department,
        action=lambda ctx: node.reconcile(ctx, table or None),
    )
    summary = Runner(proj, threads=1).run(command=f"reconcile {source}", nodes=[step])
    print_summary(summary, proj)
    if not summary.ok:
        sys.exit(1)
