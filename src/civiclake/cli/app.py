"""Command definitions. Each command imports what it needs when it runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from typer.core import TyperGroup

from civiclake.cli import commands
from civiclake.cli.access import access_app
from civiclake.cli.advise import advise
from civiclake.cli.alerts import alerts_app
from civiclake.cli.diff import diff
from civiclake.cli.doctor import doctor, files_app
from civiclake.cli.model import model_app
from civiclake.cli.options import ProjectOpt
from civiclake.cli.publish import login, publish
from civiclake.cli.scheduler import scheduler_app
from civiclake.cli.serve import serve
from civiclake.cli.simulate import simulate_app
from civiclake.cli.status import reconcile, status
from civiclake.cli.stream import stream

ORDER = (
    # a day's work
    "init",
    "demo",
    "run",
    "query",
    "diff",
    "status",
    "list",
    "runs",
    "datasets",
    "new",
    "backfill",
    "stream",
    "scheduler",
    # serving
    "publish",
    "serve",
    # looking after it
    "alerts",
    "advise",
    "doctor",
    "history",
    "files",
    "reconcile",
    # administration
    "department",
    "access",
    "model",
    "warehouse",
    "simulate",
)
"""The order ``civiclake --help`` lists commands in: what a daily user reaches for first,
administration last; a command not named here comes after these."""


class _DailyOrder(TyperGroup):
    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(super().list_commands(ctx), key=lambda n: rank.get(n, len(ORDER)))


app = typer.Typer(
    cls=_DailyOrder,
    help="civiclake: ingest council data, keep its history, transform it with SQL or Python, "
    "and serve it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
department_app = typer.Typer(
    help="Add and list departments.\n\nExample:\n\n    civiclake department add 'Housing Repairs'",
    no_args_is_help=True,
)
new_app = typer.Typer(
    help="Create jobs from templates and sources from a sample file."
    "\n\nExample:\n\n    civiclake new job housing/arrears",
    no_args_is_help=True,
)
runs_app = typer.Typer(
    help="Run history: `civiclake runs` lists, `runs show ID` details."
    "\n\nExample:\n\n    civiclake runs show 42"
)
datasets_app = typer.Typer(
    help="The catalog: `civiclake datasets` lists, `datasets prune` drops what nothing produces."
    "\n\nExample:\n\n    civiclake datasets --format json"
)
warehouse_app = typer.Typer(
    help="The PostgreSQL warehouse's one-time setup (publishing itself is `civiclake publish`)."
    "\n\nExample:\n\n    civiclake warehouse bootstrap",
    no_args_is_help=True,
)
app.add_typer(department_app, name="department")
app.add_typer(new_app, name="new")
app.add_typer(runs_app, name="runs")
app.add_typer(datasets_app, name="datasets")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(simulate_app, name="simulate")
app.command("status")(status)
app.command("reconcile")(reconcile)
history_app = typer.Typer(
    help="Keyed datasets' history: rebuild it from landing, compact it."
    "\n\nExample:\n\n    civiclake history compact planning_refined.applications"
)
app.add_typer(history_app, name="history")
app.command("doctor")(doctor)
app.add_typer(files_app, name="files")
app.add_typer(access_app, name="access")
app.command("serve")(serve)
app.command("publish")(publish)
app.command("stream")(stream)
app.add_typer(scheduler_app, name="scheduler")
app.command("advise")(advise)
app.command("diff")(diff)
access_app.command("login")(login)
app.add_typer(model_app, name="model")
app.add_typer(alerts_app, name="alerts")


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("civiclake")
        except PackageNotFoundError:  # running from a source tree that is not installed
            from civiclake import __version__ as shown
        print(f"civiclake {shown}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """civiclake: ingest council data, keep its history, transform it with SQL or Python, and
    serve it."""


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
    department: Annotated[
        list[str] | None, typer.Option("--department", "-d", help="Departments to add.")
    ] = None,
) -> None:
    """Create a project: civiclake.yaml, sources/, jobs/<department>/, models/, playbook/.

    Example:

        civiclake init my-council -d housing -d planning
    """
    commands.init(directory, name, department or [])


@department_app.command("add")
def department_add(
    name: Annotated[str, typer.Argument(help="Department name, e.g. 'Housing Repairs'.")],
    project: ProjectOpt = None,
) -> None:
    """Add a department (its id is normalised: 'Housing Repairs' → housing-repairs).

    Example:

        civiclake department add 'Housing Repairs'
    """
    commands.department_add(project, name)


@department_app.command("list")
def department_list(project: ProjectOpt = None) -> None:
    """List the project's departments and their SQL schema names.

    Example:

        civiclake department list
    """
    commands.department_list(project)


@new_app.command("job")
def new_job(
    name: Annotated[str, typer.Argument(help="<department>/<job name>, e.g. housing/arrears.")],
    template: Annotated[
        Literal["sql", "python"], typer.Option("--template", "-t", help="sql or python.")
    ] = "sql",
    zone: Annotated[
        Literal["refined", "trusted"], typer.Option(help="Zone of the job's output.")
    ] = "refined",
    project: ProjectOpt = None,
) -> None:
    """Write a working, commented job template under jobs/<department>/.

    Example:

        civiclake new job housing/arrears --template sql
    """
    commands.new_job(project, name, template, zone)


@new_app.command("source")
def new_source(
    name: Annotated[
        str, typer.Argument(help="<department>/<source name>, e.g. housing/rent_accounts.")
    ],
    file: Annotated[
        Path, typer.Argument(help="A sample export: CSV, Excel (.xlsx) or JSON/NDJSON.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Write the source file again if it exists.")
    ] = False,
    load: Annotated[
        bool, typer.Option(help="Load the file straight away (a queryable table with history).")
    ] = True,
    project: ProjectOpt = None,
) -> None:
    """Write sources/<department>/<name>.yaml from a sample file, put the file in landing,
    and load it.

    The file is read as the source will read it: the format and CSV dialect, a pattern
    that matches next month's file name, the key (unique, never-empty columns) and the
    columns that look personal are written for you to review. Then the source runs, so
    the table (with history, when a key was found) can be queried at once; `--no-load`
    leaves that for `civiclake run`.

    Example:

        civiclake new source housing/rent_accounts ~/exports/rent_accounts_2026-03.csv
    """
    commands.new_source(project, name, file, force, load=load)


@app.command()
def run(
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            "-s",
            help="What to run: 'planning/*', 'name', '+name' (with upstream), 'name+' "
            "(with downstream). Repeatable. Default: everything.",
        ),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Steps run at once.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    today: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Run as if today were this date (YYYY-MM-DD): daily sources pull the days "
            "before it. Default: today.",
        ),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Run sources and jobs in dependency order; exit 1 when a step failed.

    Example:

        civiclake run --select 'housing/*'
    """
    commands.run(project, select or [], threads, progress, today.date() if today else None)


@app.command("list")
def list_nodes(project: ProjectOpt = None) -> None:
    """List sources and jobs with what they read and write, in run order.

    Example:

        civiclake list
    """
    commands.list_nodes(project)


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 20,
    format: Annotated[
        Literal["table", "json", "csv"], typer.Option(help="json or csv for scripts.")
    ] = "table",
    project: ProjectOpt = None,
) -> None:
    """List recent runs.

    Example:

        civiclake runs --limit 5 --format json
    """
    if ctx.invoked_subcommand is None:
        commands.runs_list(project, limit, format)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id (from `civiclake runs`).")],
    project: ProjectOpt = None,
) -> None:
    """Show one run's steps: status, rows, bytes, time, memory, errors and the log file.

    Example:

        civiclake runs show 42
    """
    commands.runs_show(project, run_id)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One SQL query over <department>_<zone>.<dataset>.")],
    format: Annotated[
        Literal["table", "csv", "json", "parquet"],
        typer.Option("--format", "-f", help="Output format."),
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows shown in table format.")] = 50,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Query as this user once access control is on (default: $CIVICLAKE_USER, "
            "then your login name).",
        ),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Query the datasets with SQL (DuckDB dialect) and print or save the result.

    Example:

        civiclake query 'SELECT * FROM housing_refined.tenancies LIMIT 10'
    """
    commands.query(project, sql, format, output, limit, as_user)


@datasets_app.callback(invoke_without_command=True)
def datasets(
    ctx: typer.Context,
    format: Annotated[
        Literal["table", "json", "csv"], typer.Option(help="json or csv for scripts.")
    ] = "table",
    project: ProjectOpt = None,
) -> None:
    """List the catalog's datasets: zone, department, rows, key, producer.

    Example:

        civiclake datasets --format csv
    """
    if ctx.invoked_subcommand is None:
        commands.datasets(project, format)


@datasets_app.command("prune")
def datasets_prune(
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Drop without asking (for scripts).")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Drop the datasets no current source or job produces: folder, catalog, warehouse tables.

    A deleted job's (or source's) dataset otherwise stays readable, and published with its
    grants. Lists what would go and asks first; without a terminal and without --yes it
    only lists. Landing files are never pruned. Refuses while a source or job file fails to
    load, since that file might produce any dataset.

    Example:

        civiclake datasets prune --yes
    """
    commands.datasets_prune(project, yes)


@warehouse_app.command("bootstrap")
def warehouse_bootstrap(project: ProjectOpt = None) -> None:
    """Print the one-time SQL a DBA runs as a superuser so the service account needs no CREATEROLE.

    It creates this project's role-admin role and functions and grants the account in
    warehouse.url what publishing needs (docs/serving.md#service-account). No password in it.

    Example:

        civiclake warehouse bootstrap > bootstrap.sql
    """
    commands.warehouse_bootstrap(project)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo project.")] = Path(
        "demo-council"
    ),
    force: Annotated[bool, typer.Option(help="Replace an existing demo project.")] = False,
    planning_days: Annotated[
        int, typer.Option(min=1, help="Days of the simulated planning system to ingest.")
    ] = 30,
) -> None:
    """Build the demo council project, ingest its sample data and run all its jobs.

    Example:

        civiclake demo demo-council --planning-days 7
    """
    commands.demo(directory, force, planning_days)


@history_app.command("rebuild")
def history_rebuild(
    dataset: Annotated[
        str, typer.Argument(help="The keyed dataset, e.g. planning_refined.applications.")
    ],
    project: ProjectOpt = None,
) -> None:
    """Rebuild a dataset's history (and latest, as-of) from what landing holds, in import order.

    Example:

        civiclake history rebuild planning_refined.applications
    """
    commands.history_rebuild(project, dataset)


@history_app.command("compact")
def history_compact(
    dataset: Annotated[
        str, typer.Argument(help="The keyed dataset, e.g. planning_refined.applications.")
    ],
    project: ProjectOpt = None,
) -> None:
    """Fold recent versions into the latest table now instead of waiting for the threshold.

    Example:

        civiclake history compact planning_refined.applications
    """
    commands.history_compact(project, dataset)


@app.command()
def backfill(
    name: Annotated[
        str,
        typer.Argument(help="<department>/<table> of a daily source, e.g. planning/applications."),
    ],
    start: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD).")
    ],
    end: Annotated[
        datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (YYYY-MM-DD).")
    ],
    project: ProjectOpt = None,
) -> None:
    """Re-pull a range of days from a daily source and apply them (re-deliveries are harmless).

    Example:

        civiclake backfill planning/applications --from 2026-01-01 --to 2026-01-07
    """
    commands.backfill(project, name, start.date(), end.date())
