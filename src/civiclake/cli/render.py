"""Presentation: how runs, run summaries and the demo's report look in a terminal.

Everything that draws lives in :mod:`civiclake.cli`; the runner and the demo return data
(:class:`~civiclake.runner.runner.RunSummary`, :class:`~civiclake.demo.DemoReport`) and
report progress through the :class:`~civiclake.runner.progress.Reporter` protocol.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from civiclake.cli import output as out

if TYPE_CHECKING:
    from civiclake.demo import DemoReport
    from civiclake.project import Project
    from civiclake.runner.runner import RunSummary
    from civiclake.steps import StepOutcome


_STYLE = {"success": "green", "failed": "red", "blocked": "yellow"}


class RichReporter:
    """An overall bar plus one line per running step."""

    def __init__(self, console: Any = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None
        self._lock = threading.Lock()

    def start(self, names: list[str]) -> None:
        self._progress.start()
        self._overall = self._progress.add_task("[bold]run", total=len(names))

    def node_started(self, name: str) -> None:
        with self._lock:
            self._tasks[name] = self._progress.add_task(f"  {name}", total=None)

    def node_progress(self, name: str, done: int, total: int | None) -> None:
        task = self._tasks.get(name)
        if task is not None:
            self._progress.update(task, completed=done, total=total)

    def node_finished(self, outcome: StepOutcome) -> None:
        with self._lock:
            task = self._tasks.pop(outcome.name, None)
            style = _STYLE.get(outcome.status, "white")
            label = f"  [{style}]{outcome.name} {outcome.status}[/]"
            if task is None:
                task = self._progress.add_task(label, total=1)
            self._progress.update(task, description=label, completed=1, total=1)
            self._progress.advance(self._overall)

    def stop(self) -> None:
        self._progress.stop()


def print_summary(summary: RunSummary, project: Project) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = out.console()
    if not summary.steps:
        console.print(
            "Nothing to run: declare sources in sources/<department>/*.yaml and jobs in "
            "jobs/<department>/ (`civiclake new job <department>/<name>`)"
        )
        return
    table = Table(title=f"run {summary.run_id}: {summary.status}", title_justify="left")
    for col in ("step", "status", "rows in", "rows out", "rejected", "written", "time"):
        table.add_column(col, justify="right" if col not in ("step", "status") else "left")
    style = {"success": "green", "failed": "red", "blocked": "yellow"}
    for step in summary.steps:
        r = step.result
        table.add_row(
            step.name,
            f"[{style.get(step.status, 'white')}]{step.status}[/]",
            out.count(r.rows_in),
            out.count(r.rows_out),
            out.count(r.rows_rejected) if r.rows_rejected else "",
            out.size(r.bytes_written),
            out.seconds(step.seconds),
        )
    console.print(table)
    for step in summary.steps:
        for note in step.result.notes:
            console.print(f"  [dim]{escape(step.name)}: {escape(note)}[/]")
    for step in summary.failed:
        console.print(f"[red]{step.status}[/] {escape(step.name)}: {escape(step.error or '')}")
    if summary.failed:
        console.print(f"Log: {summary.log_path}")
    console.print(f"{out.plural(len(summary.steps), 'step')} in {out.seconds(summary.seconds)}")


def print_records(records: list[dict[str, Any]], fmt: str) -> None:
    """Records as JSON (a list of objects) or CSV (a header, then a row each) on stdout, for
    scripts: every field, full length, dates in ISO 8601."""
    import csv
    import json
    import sys
    from datetime import date, datetime

    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    rows = [{k: plain(v) for k, v in r.items()} for r in records]
    if fmt == "json":
        json.dump(rows, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    fields = list(rows[0]) if rows else []
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
        )


def print_demo(report: DemoReport) -> None:
    """The demo's summary, then what was built and what to try next."""
    from civiclake.cli.commands import datasets
    from civiclake.project import Project

    project = Project.load(report.directory)
    try:
        print_summary(report.summary, project)
    finally:
        project.store.close()
    if not report.finished:
        return
    console = out.console()
    if report.reconciliation:
        console.print(
            "\n[bold]The repairs system's reconciliation[/] (what the 15-minute syncs "
            "could not see, found and repaired):"
        )
        for note in report.reconciliation:
            console.print(f"  {note}", markup=False, highlight=False)
    console.print("\n[bold]What was built[/]")
    datasets(report.directory)
    for title, lines, indent in (
        ("Try it", report.try_lines, "  "),
        ("Serve it", report.serving, "  "),
        ("Publish it", report.publish, ""),
    ):
        if lines:
            console.print(f"\n[bold]{title}[/]")
            for line in lines:
                console.print(f"{indent}{line}", soft_wrap=True, markup=False, highlight=False)
