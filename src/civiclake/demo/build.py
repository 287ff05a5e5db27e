"""``civiclake demo``: build the demo council project and run everything in it.

The demo is a normal project — created by :func:`init_project`, with source
and job files copied from ``demo/files/`` and seeded sample data written into
its landing folders — so what it shows is exactly what a council's own
project does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake import init_project
from civiclake.demo.repairs import ENV as REPAIRS_ENV
from civiclake.demo.repairs import build_repairs
from civiclake.demo.repairs import default_url as default_repairs_url
from civiclake.demo.streams import add_housing_streams
from civiclake.exceptions import ConfigError
from civiclake.project import CONFIG_FILE, Project
from civiclake.runner.plan import discover
from civiclake.serve.demo import DEMO_ANALYST, serving_demo

if TYPE_CHECKING:
    from civiclake import RunSummary
    from civiclake.runner.progress import Reporter

DEPARTMENTS = ["housing", "housing-repairs", "parking", "planning"]
KAFKA_ENV, REGISTRY_ENV = "KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL"
"""Set both when the demo is first built, and its housing streams come through Kafka."""
WAREHOUSE_ENV = "WAREHOUSE_URL"
"""Set (a PostgreSQL URL) when the demo is first built, and it publishes there too."""
PLANNING_DAYS = 30
"""Days of the planning system the demo ingests, one daily run each."""
PLANNING_KEYS = {
    "PLANNING_API_PUBLIC_KEY": "demo-public",
    "PLANNING_API_PRIVATE_KEY": "demo-private",
}

EXAMPLE_QUERIES = [
    "select * from housing_trusted.arrears_by_ward order by total_arrears desc limit 5",
    "select permit_type, sum(active_permits) as permits from parking_trusted.permits_by_ward "
    "group by permit_type order by permits desc",
    "select _source_file, _source_row, column_name, reason "
    "from housing_raw.rent_accounts__rejected",
    "select within_8_weeks, count(*) as applications, round(avg(working_days_to_decision), 1) "
    "as avg_working_days from planning_trusted.decision_times group by 1",
    "select id, application_stage, valid_from, valid_to "
    "from planning_refined.applications__history "
    "where id = (select max(id) from planning_refined.applications) order by valid_from",
    "select * from housing_repairs_trusted.open_work_orders order by past_target desc limit 5",
    "select tenure_type_description, count(*) as tenures, count(*) filter (where "
    "terminated_is_terminated) as terminated from housing_refined.tenures group by 1",
]


@dataclass
class DemoReport:
    """What building the demo did, for the CLI to show (:func:`civiclake.cli.render.print_demo`)."""

    directory: Path
    summary: RunSummary
    """The last run: the whole project's, or the step that stopped the build."""
    finished: bool = False
    """The build got to its last run (False: a repairs or planning step failed first)."""
    reconciliation: list[str] = field(default_factory=list)
    try_lines: list[str] = field(default_factory=list)
    """Commands to try next."""
    serving: list[str] = field(default_factory=list)
    """How to reach the SQL API (and the warehouse) as the demo analyst."""
    publish: list[str] = field(default_factory=list)
    """Steps to publish when the warehouse refused the demo's account."""

    @property
    def ok(self) -> bool:
        return self.summary.ok


def build_demo(
    directory: Path,
    *,
    force: bool = False,
    seed: int = 2026,
    planning_days: int = PLANNING_DAYS,
    say: Callable[[str], None] = lambda message: None,
    reporter: Reporter | None = None,
) -> DemoReport:
    """Create (or refresh) the demo project in ``directory`` and run all its steps.

    The planning department's source is the planning API simulator, started
    in the background for the build: the first run loads the whole system,
    then one run per simulated day pulls that day's increment into history.
    ``say`` hears what the build is doing; ``reporter`` shows the last run's progress.
    """
    from civiclake import Runner
    from civiclake.demo.data import generate
    from civiclake.runner.progress import NullReporter

    directory = directory.resolve()
    if (directory / CONFIG_FILE).exists():
        if not force:
            say(f"Using the existing demo project in {directory} (--force rebuilds it)")
        else:
            _remove_demo(directory)
    if not (directory / CONFIG_FILE).exists():
        init_project(directory, name="riverside-council", departments=DEPARTMENTS)
        _copy_files(directory)
        project = Project.load(directory)
        written = generate(Path(project.layout.join("landing")), seed=seed)
        _age(written)
        _write_env(directory)
        # the housing app's event streams: files in landing, or Kafka when one is named
        add_housing_streams(
            directory,
            seed=seed,
            bootstrap=os.environ.get(KAFKA_ENV) or None,
            registry=os.environ.get(REGISTRY_ENV) or None,
        )
        if os.environ.get(WAREHOUSE_ENV):  # publish to this PostgreSQL warehouse too
            with (directory / CONFIG_FILE).open("a", encoding="utf-8") as config:
                config.write(f"warehouse:\n  url: ${{{WAREHOUSE_ENV}}}\n")
        say(f"Created the demo council project in {directory}")
    project = Project.load(directory)
    repairs = build_repairs(directory, seed=seed, say=say)
    if repairs.failed is not None:
        return DemoReport(directory, repairs.failed)
    with _planning_api(directory, seed=seed, days=planning_days) as (simulator, days, fresh):
        for number, day in enumerate(days[:-1] if fresh else [], start=1):
            say(f"Planning system, day {number} of {len(days)}: pulling up to {day}")
            simulator.set_today(day)
            daily = Runner(Project.load(directory), today=day).run(
                ["planning/planning_api"], command=f"demo --today {day}"
            )
            if not daily.ok:
                return DemoReport(directory, daily)
        simulator.set_today(days[-1])
        project = Project.load(directory)
        # a refused service account is a setup step to explain, not a failed demo
        unpublished = _warehouse_refusal(project)
        nodes = discover(project, ["sources", "jobs"]) if unpublished else None
        summary = Runner(project, reporter=reporter or NullReporter(), today=days[-1]).run(
            command="demo", nodes=nodes
        )
        port = simulator.url.split(":")[2].split("/")[0]
        start, tomorrow = days[0] - timedelta(days=1), days[-1] + timedelta(days=1)
    serving = (
        serving_demo(
            _unpublished(Project.load(directory)) if unpublished else Project.load(directory),
            sql="SELECT * FROM housing_trusted.arrears_by_ward ORDER BY total_arrears DESC LIMIT 5",
        )
        if summary.ok
        else []
    )
    if unpublished:  # serving_demo's advice to configure a warehouse: it is configured
        serving = [line for line in serving if not line.startswith("PostgreSQL warehouse:")]
    cli = _command()
    try_lines = [f"cd {directory}"]
    try_lines += [f'{cli} query "{sql}"' for sql in EXAMPLE_QUERIES]
    try_lines += [
        f"{cli} runs            # run history",
        f"{cli} status          # freshness: last runs, database cursors, reconciliations",
        f"{cli} reconcile housing-repairs/drs   # compare with the repairs system now",
        f"{cli} list            # sources and jobs, with what they read and write",
        f"{cli} new job housing/my_first_job --template sql",
        "# one more day of the planning system: serve it, then run as of that day",
        f"{cli} simulate planning-api --port {port} --seed {seed} --start {start} "
        f"--today {tomorrow} &",
        f"{cli} run --today {tomorrow}",
    ]
    project.store.close()
    return DemoReport(
        directory,
        summary,
        finished=True,
        reconciliation=list(repairs.reconciliation),
        try_lines=try_lines,
        serving=serving,
        publish=unpublished or [],
    )


def _warehouse_refusal(project: Project) -> list[str] | None:
    """The steps to publish the demo when WAREHOUSE_URL's account is refused, else None.

    Publishing refuses a superuser, and a CREATEROLE account before PostgreSQL 16, until
    a DBA has run the bootstrap (docs/serving.md#service-account). A developer pointing
    the demo at their local PostgreSQL usually hands it exactly such an account, so the
    demo builds everything else and prints the commands that make publishing work, rather
    than a failed run. Any other warehouse error is left for the publish step to report.
    """
    from urllib.parse import urlsplit

    from civiclake.exceptions import CivicLakeError
    from civiclake.publish import (
        ServiceAccountRefused,
        check_service_account,
        role_names,
        warehouse_url,
    )

    if project.config.warehouse.url is None:
        return None
    try:
        check_service_account(project)
        return None
    except ServiceAccountRefused as exc:
        if exc.reason not in ("superuser", "createrole", "no_role_management"):
            return None
        refusal = exc
    except CivicLakeError:
        return None
    parts = urlsplit(warehouse_url(project))
    database = parts.path.lstrip("/") or refusal.account
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{database}"
    cli, folder = _command(), project.dir
    lines = [
        f"Not published to the warehouse: {refusal}.",
        "Everything else was built. To publish the demo, once:",
    ]
    if refusal.reason == "superuser":
        # a name no civiclake login can have (logins are <prefix><user>, users start with
        # a letter), so the policy's role sync never mistakes it for a departed user
        service = role_names(project, database).prefix + "_publisher"
        lines += [
            f'  export ADMIN_URL="${WAREHOUSE_ENV}"   # the superuser, for the two psql lines',
            f'  psql "$ADMIN_URL" -c "CREATE ROLE {service} LOGIN PASSWORD \'choose-one\'"',
            f"  export {WAREHOUSE_ENV}='postgresql://{service}:choose-one@{where}'",
            f'  {cli} warehouse bootstrap -p {folder} | psql "$ADMIN_URL" -q -v ON_ERROR_STOP=1',
            f"  {cli} publish -p {folder}",
        ]
    else:
        lines += [
            f"  {cli} warehouse bootstrap -p {folder} > bootstrap.sql   # for a DBA: "
            f"it also removes CREATEROLE from {refusal.account}",
            f"  psql 'host={parts.hostname or 'localhost'} port={parts.port or 5432} "
            f"dbname={database} user=<a superuser>' -v ON_ERROR_STOP=1 -f bootstrap.sql",
            f"  {cli} publish -p {folder}",
        ]
    lines.append(f"  {cli} access login {DEMO_ANALYST} -p {folder}   # the analyst's psql line")
    return lines


def _unpublished(project: Project) -> Project:
    """``project`` as if no warehouse were configured: the API demo, without a publish."""
    config = project.config
    warehouse = config.warehouse.model_copy(update={"url": None})
    return Project(project.dir, config.model_copy(update={"warehouse": warehouse}))


def _write_env(directory: Path) -> None:
    """The simulators' demo keys and addresses, as a council would keep real ones: in ``.env``.

    Appended to the ``.env`` that :func:`init_project` wrote: it holds the project's
    masking key, and without it the demo's PII-masked users could query nothing.
    """
    lines = [f"{name}={value}" for name, value in PLANNING_KEYS.items()]
    lines.append(f"{REPAIRS_ENV}={default_repairs_url(directory)}")
    with (directory / ".env").open("a", encoding="utf-8") as env:
        env.write("# The demo's simulated systems\n" + "\n".join(lines) + "\n")


@contextmanager
def _planning_api(
    directory: Path, *, seed: int, days: int
) -> Iterator[tuple[Any, list[date], bool]]:
    """Serve the planning simulator while the demo runs; yield the business days to run.

    The simulated world starts ``days`` days before today (its dates look
    current) and is stored in ``.civiclake/demo-planning.json`` so that a
    rebuild serves the same world and pulls nothing twice (its daily runs
    are skipped; only the last day's run is repeated).
    """
    import json
    import os
    import re

    from civiclake.simulators.planning import PlanningSimulator, PlanningWorld

    state = directory / ".civiclake" / "demo-planning.json"
    fresh = not state.exists()
    if not fresh:
        saved = json.loads(state.read_text(encoding="utf-8"))
        start, days = date.fromisoformat(saved["start"]), int(saved["days"])
    else:
        start = date.today() - timedelta(days=days + 1)
        state.parent.mkdir(exist_ok=True)
        state.write_text(json.dumps({"start": str(start), "days": days}), encoding="utf-8")
    business_days = [start + timedelta(days=n) for n in range(1, days + 1)]
    simulator = PlanningSimulator(
        PlanningWorld(seed, start),
        public_key=PLANNING_KEYS["PLANNING_API_PUBLIC_KEY"],
        private_key=PLANNING_KEYS["PLANNING_API_PRIVATE_KEY"],
    ).start()
    config = directory / "sources" / "planning" / "planning_api.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        re.sub(r"(?m)^url: .*$", f"url: {simulator.url}", text, count=1), encoding="utf-8"
    )
    for name, value in PLANNING_KEYS.items():
        os.environ.setdefault(name, value)

    try:
        yield simulator, business_days, fresh
    finally:
        simulator.stop()


def _command() -> str:
    """How to call civiclake from a shell: by name when it is on PATH, else by full path."""
    import shutil
    import sys

    if shutil.which("civiclake"):
        return "civiclake"
    beside = Path(sys.executable).parent / "civiclake"
    return str(beside) if beside.exists() else f"{sys.executable} -m civiclake"


def _age(written: dict[str, list[Path]]) -> None:
    """Date the sample files an hour back: they were dropped earlier, not still being written."""
    import os
    import time

    past = time.time() - 3600
    for paths in written.values():
        for path in paths:
            os.utime(path, (past, past))


def _copy_files(directory: Path) -> None:
    files = resources.files("civiclake.demo").joinpath("files")
    with resources.as_file(files) as src:
        shutil.copytree(src, directory, dirs_exist_ok=True)


def _remove_demo(directory: Path) -> None:
    config = (directory / CONFIG_FILE).read_text(encoding="utf-8")
    if "name: riverside-council" not in config:
        raise ConfigError(
            f"{directory} holds a project that is not the demo; refusing to delete it"
        )
    shutil.rmtree(directory)
