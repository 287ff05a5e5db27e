"""The demo's repairs system: a simulated scheduling database, synced like the real one.

On a fresh build the simulator creates the database (SQLite under ``systems/`` by default;
whatever ``REPAIRS_DB_URL`` names when it is set, e.g. a PostgreSQL database), the first sync
loads it, then eight 15-minute cycles of changes are each followed by a sync. A
reconciliation at the end finds what those incremental syncs could not see (updates that
did not bump ``updated_at``, hard deletes, transactions that committed late) and repairs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from civiclake import RunSummary

SOURCE = "housing-repairs/drs"
CYCLES = 8
ENV = "REPAIRS_DB_URL"


@dataclass
class RepairsDemo:
    """What the repairs part of the build did, for the closing lines."""

    url: str
    cycles: int = 0
    reconciliation: list[str] = field(default_factory=list)
    failed: RunSummary | None = None


def default_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'systems' / 'repairs.db'}"


def build_repairs(directory: Path, *, seed: int, say: Any) -> RepairsDemo:
    """Simulate the repairs system and sync it (only on the first build of the project)."""
    from civiclake import Project, Runner
    from civiclake.config.secrets import from_environment
    from civiclake.ingest.database.source import DatabaseSource
    from civiclake.runner.plan import discover
    from civiclake.simulators.repairs import RepairsSimulator

    url = from_environment(ENV) or default_url(directory)  # not another demo's .env
    marker = directory / ".civiclake" / "demo-repairs.json"
    demo = RepairsDemo(url=url)
    if marker.exists():
        return demo
    (directory / "systems").mkdir(exist_ok=True)
    start = datetime.combine(date.today() - timedelta(days=1), time(8, 0))
    with RepairsSimulator(url, seed=seed, scale=0.5, start=start).create() as sim:
        for cycle in range(CYCLES + 1):
            if cycle:
                report = sim.cycle()
                say(
                    f"Repairs system, {report.now:%H:%M}: {report.inserted} jobs raised, "
                    f"{report.updated} updated, {len(report.deleted)} deleted; syncing"
                )
            summary = Runner(Project.load(directory), retries=1).run(
                [SOURCE], command=f"demo repairs cycle {cycle}"
            )
            if not summary.ok:
                demo.failed = summary
                return demo
            demo.cycles = cycle
        sim.settle()
    project = Project.load(directory)
    [node] = [s for s in discover(project, ["sources"]) if s.definition.name == SOURCE]
    assert isinstance(node, DatabaseSource)

    def reconcile(ctx: Any) -> Any:
        return node.reconcile(ctx)

    from civiclake.steps import Action

    step = Action(
        name="housing-repairs/reconcile-drs", department="housing-repairs", action=reconcile
    )
    summary = Runner(project, threads=1).run(command=f"reconcile {SOURCE}", nodes=[step])
    if not summary.ok:
        demo.failed = summary
        return demo
    demo.reconciliation = list(summary.steps[0].result.notes)
    marker.write_text(url.split("@")[-1], encoding="utf-8")
    project.store.close()
    return demo
