"""``civiclake scheduler``: run the project's schedules; ``status``, ``pause``, ``resume``.

The daemon runs in the foreground (systemd, a container, a terminal): sources on their
``schedule:``, jobs when their inputs change (see :mod:`civiclake.scheduler.core`). Its
state is in the metadata store, so ``status``, ``pause`` and ``resume`` work from any
shell while it runs, and a second scheduler on another machine stands by as its failover.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

scheduler_app = typer.Typer(
    help="Run sources on their schedule: and jobs when their inputs change "
    "(`civiclake scheduler`); `status`, `pause`, `resume`. SIGTERM or Ctrl-C stops it after "
    "the running runs finish.\n\nExample:\n\n    civiclake scheduler",
    invoke_without_command=True,
)


@scheduler_app.callback()
def scheduler(
    ctx: typer.Context,
    project_dir: ProjectOpt = None,
) -> None:
    """Run in the foreground until SIGTERM or Ctrl-C (then let running runs finish).


    Example:

        civiclake scheduler
    """
    if ctx.invoked_subcommand is not None:
        return
    import logging
    import signal

    from civiclake.project import Project
    from civiclake.scheduler import Scheduler, serve

    project = Project.load(project_dir)
    sched = Scheduler(project)

    def request_stop(signum: int, _frame: object) -> None:
        if sched.stopping.is_set():  # a second signal: leave now; runs recover on restart
            raise KeyboardInterrupt
        print("stopping: starting nothing more, letting running runs finish…", flush=True)
        sched.request_stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log = logging.getLogger("civiclake.scheduler")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    cfg = project.config.scheduler
    print(
        f"scheduler for {project.config.name} ({project.config.timezone}; catch-up "
        f"{cfg.catch_up}, up to {cfg.max_parallel_runs} runs at once); SIGTERM or Ctrl-C "
        "to stop",
        flush=True,
    )
    ticks = serve(sched)
    print(f"stopped cleanly after {ticks} tick(s), {len(sched.dispatched)} run(s)", flush=True)


@scheduler_app.command("status")
def status(
    project_dir: ProjectOpt = None,
    format: Annotated[
        str, typer.Option("--format", help="table, or json for scripts.", show_default=True)
    ] = "table",
) -> None:
    """Each scheduled step: its schedule, last run, next run, paused; and who leads.


    Example:

        civiclake scheduler status --format json
    """
    from civiclake.project import Project

    project = Project.load(project_dir)
    rows, leader = status_rows(project)
    if format == "json":
        print(json.dumps({"leader": leader, "steps": rows}, indent=2, default=str))
        return
    if format != "table":
        raise typer.BadParameter("--format is table or json")
    from rich.table import Table

    con = out.console(wide_when_piped=True)
    zone = project.config.timezone
    con.print(f"leader: {leader or 'no scheduler running'}")
    table = Table(title="Schedule")
    for column in ("step", "runs", "state", "last run", "status", "next run"):
        table.add_column(column)
    for row in rows:
        last = f"{_local(row['last_started_at'], zone)} (run {row['last_run_id']})"
        table.add_row(
            row["step"],
            row["schedule"] or "when inputs change",
            row["state"],
            last if row["last_run_id"] else "-",
            row["last_status"] or "-",
            _local(row["next_due_at"], zone),
        )
    con.print(table)


@scheduler_app.command("pause")
def pause(
    step: Annotated[str, typer.Argument(help="The step, <department>/<name>.")],
    project_dir: ProjectOpt = None,
) -> None:
    """Stop scheduling one step (its slots are skipped) until `scheduler resume`.


    Example:

        civiclake scheduler pause housing-repairs/drs
    """
    import getpass

    from civiclake.metadata.schedules import ScheduleStates
    from civiclake.project import Project

    project = Project.load(project_dir)
    name = _known(project, step)
    ScheduleStates(project.store).pause(name, by=getpass.getuser())
    print(f"{name} paused; `civiclake scheduler resume {name}` starts it again")


@scheduler_app.command("resume")
def resume(
    step: Annotated[str, typer.Argument(help="The step, <department>/<name>.")],
    project_dir: ProjectOpt = None,
) -> None:
    """Schedule a paused step again, from its next slot (missed slots are not caught up).


    Example:

        civiclake scheduler resume housing-repairs/drs
    """
    from civiclake.metadata.schedules import ScheduleStates
    from civiclake.project import Project

    project = Project.load(project_dir)
    name = _known(project, step)
    ScheduleStates(project.store).resume(name)
    print(f"{name} resumed; it runs at its next slot")


def status_rows(project: Any) -> tuple[list[dict[str, Any]], str | None]:
    """One row per schedulable step (scheduled sources, then jobs), and the leader."""
    from civiclake.metadata.leases import Leases
    from civiclake.metadata.schedules import ScheduleState, ScheduleStates
    from civiclake.runner.plan import discover
    from civiclake.scheduler.daemon import LEADER

    states = ScheduleStates(project.store).all()
    running = {h.resource for h in Leases(project.store).held()}
    rows = []
    for step in discover(project):
        d = step.definition
        if not d.schedule and d.kind not in ("job", "publish"):
            continue
        state = states.get(d.name) or ScheduleState(d.name)
        writing = any(ref.qualified in running for ref in d.writes)
        rows.append(
            {
                "step": d.name,
                "schedule": d.schedule,
                "state": "paused" if state.paused else "running" if writing else "waiting",
                "paused_by": state.paused_by,
                "last_run_id": state.last_run_id,
                "last_status": state.last_status,
                "last_started_at": state.last_started_at,
                "last_ended_at": state.last_ended_at,
                "next_due_at": state.next_due_at,
            }
        )
    rows.sort(key=lambda r: (not r["schedule"], r["step"]))
    lead = [h for h in Leases(project.store).held() if h.resource == LEADER]
    zone = project.config.timezone
    leader = f"{lead[0].holder} since {_local(lead[0].since, zone)}" if lead else None
    return rows, leader


def _known(project: Any, step: str) -> str:
    from civiclake.config.suggest import did_you_mean
    from civiclake.exceptions import ConfigError
    from civiclake.runner.plan import discover

    names = sorted(s.definition.name for s in discover(project))
    if step not in names:
        raise ConfigError(f"no step {step!r}{did_you_mean(step, names)}; see `civiclake list`")
    return step


def _local(moment: datetime | None, zone: str = "Europe/London") -> str:
    """``moment`` on the project's wall clock (the one schedules are written in)."""
    from zoneinfo import ZoneInfo

    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


__all__ = ["scheduler_app", "status_rows"]
