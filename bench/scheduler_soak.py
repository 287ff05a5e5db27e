"""A simulated week of a council left running: the scheduler on a fast clock, with faults.

A council project with a 15-minute repairs sync (the repairs simulator, SQLite), a daily
planning pull at 02:00 (the planning simulator over HTTP), event files dropped every three
hours and loaded hourly, and a job on each. The scheduler runs it on a
:class:`~civiclake.scheduler.ManualClock` — 15 simulated minutes per look, the runs
themselves real — while the bench injects, once each:

* **source 5xx**: the planning API answers HTTP 500 to everything for one day;
* **a killed run**: one look happens in a child scheduler process that is SIGKILLed just
  after its first Delta commit (mid-sync); the next scheduler carries on;
* **a broken job file**: a job's SQL is replaced by a typo for one hour, then restored.

Afterwards it checks that every table equals a clean serial replay of the same inputs
(a plain `Runner` after each change, no faults), that each fault produced exactly one
alert and one recovery notice at a local webhook receiver and nothing else, and reports
the scheduler's own time per look (its decisions and state writes, not the runs).

    .venv/bin/python bench/scheduler_soak.py            # 7 days (~15 min)
    .venv/bin/python bench/scheduler_soak.py --days 2   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".data" / "scheduler_soak"
sys.path.insert(0, str(ROOT / "tests"))

from civiclake import Project, Runner, init_project  # noqa: E402
from civiclake.query import run_query  # noqa: E402
from civiclake.scheduler import ManualClock, Scheduler  # noqa: E402
from civiclake.simulators.planning import Faults, PlanningSimulator, PlanningWorld  # noqa: E402
from civiclake.simulators.repairs import RepairsSimulator  # noqa: E402

PUBLIC, PRIVATE = "pk-soak", "sk-soak-secret-7"
START = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)  # a Monday, 00:00 in London
STEP = timedelta(minutes=15)
TABLES = [
    "repairs_raw.work_orders",
    "repairs_trusted.open_orders",
    "planning_refined.applications",
    "planning_trusted.stages",
    "housing_refined.tenure_events",
    "housing_trusted.events_by_kind",
]
JOB = "repairs/open_orders"
JOB_SQL = (
    "-- zone: trusted\nSELECT status, count(*) AS n FROM repairs_raw.work_orders GROUP BY status\n"
)


class Receiver:
    """A local webhook receiver: every JSON body posted to it, in order."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()


def council(directory: Path, repairs_url: str, planning_url: str, hook: str | None) -> Path:
    root = init_project(directory, departments=["repairs", "planning", "housing"])
    sources = root / "sources"
    (sources / "repairs" / "drs.yaml").write_text(
        yaml.safe_dump(
            {
                "type": "database",
                "url": repairs_url,
                "schedule": "every 15 minutes",
                "tables": {"work_orders": {"key": "work_order_id"}},
            }
        )
    )
    (sources / "planning" / "planning_api.yaml").write_text(
        yaml.safe_dump(
            {
                "type": "planning_api",
                "url": planning_url,
                "public_key": "${PLANNING_API_PUBLIC_KEY}",
                "private_key": "${PLANNING_API_PRIVATE_KEY}",
                "schedule": "daily at 02:00",
                "tables": {"applications": {"drop": ["gis_map_image_base64"]}},
                "retries": 1,
                "retry_backoff_seconds": 0.01,
                "timeout_seconds": 5,
            }
        )
    )
    (sources / "housing" / "tenure_files.yaml").write_text(
        yaml.safe_dump(
            {
                "type": "events",
                "format": "json",
                "dataset": "tenure_events",
                "value_schema": "schemas/tenure_event.avsc",
                "min_file_age_seconds": 0,
                "schedule": "hourly",
            }
        )
    )
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "tenure_event.avsc").write_text(
        json.dumps(
            {
                "type": "record",
                "name": "TenureEvent",
                "fields": [
                    {"name": "tenancy", "type": "string"},
                    {"name": "kind", "type": "string"},
                    {"name": "at", "type": "string"},
                ],
            }
        )
    )
    jobs = root / "jobs"
    (jobs / "repairs" / "open_orders.sql").write_text(JOB_SQL)
    (jobs / "planning" / "stages.sql").write_text(
        "-- zone: trusted\nSELECT application_stage, count(*) AS n "
        "FROM planning_refined.applications GROUP BY 1\n"
    )
    (jobs / "housing" / "events_by_kind.sql").write_text(
        "-- zone: trusted\n"
        "SELECT kind, count(*) AS n FROM housing_refined.tenure_events GROUP BY 1\n"
    )
    config = root / "civiclake.yaml"
    extra: dict[str, Any] = {"run": {"retries": 1, "retry_backoff_seconds": 0.01}}
    if hook:
        extra["alerts"] = alerts_config(hook)
    config.write_text(config.read_text() + yaml.safe_dump(extra))
    return root


def alerts_config(hook: str) -> dict[str, Any]:
    """Every department's alerts to one JSON webhook."""
    return {"channels": {"ops": {"type": "webhook", "url": hook, "departments": ["*"]}}}


def drop_events(root: Path, moment: datetime, n: int) -> None:
    inbox = root / "data" / "landing" / "housing" / "tenure_files"
    inbox.mkdir(parents=True, exist_ok=True)
    kinds = ["started", "ended", "transferred"]
    lines = [
        json.dumps(
            {"tenancy": f"T{n:04d}-{i}", "kind": kinds[(n + i) % 3], "at": moment.isoformat()}
        )
        for i in range(5)
    ]
    tmp = inbox / f".drop-{n:04d}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(inbox / f"drop-{n:04d}.ndjson")


def tables(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    project = Project.load(root)
    found = {}
    for name in TABLES:
        table = run_query(project, f"SELECT * FROM {name}").read_all()
        keep = [c for c in table.column_names if not c.startswith("_")]
        found[name] = sorted(tuple(map(str, r.values())) for r in table.select(keep).to_pylist())
    project.store.close()
    return found


def runs_by_status(root: Path) -> dict[str, int]:
    from collections import Counter

    project = Project.load(root)
    counted = Counter(r.status for r in project.store.runs(100_000))
    project.store.close()
    return dict(counted)


def killed_look(root: Path, moment: datetime) -> int:
    """One look by a scheduler process that is SIGKILLed right after its first commit."""
    import _faults

    script = (
        _faults.PRELUDE
        + "from datetime import datetime\n"
        + "from civiclake import Project\n"
        + "from civiclake.scheduler import ManualClock, Scheduler\n"
        + f"clock = ManualClock(datetime.fromisoformat({moment.isoformat()!r}))\n"
        + f"s = Scheduler(Project.load({str(root)!r}), clock=clock)\n"
        + "s.tick(); s.wait()\n"
    )
    env = _faults.child_env(WORK / "kill.log", "after", 1)
    return subprocess.run([sys.executable, "-c", script], env=env).returncode


def soak(days: int) -> dict[str, Any]:
    os.environ["PLANNING_API_PUBLIC_KEY"], os.environ["PLANNING_API_PRIVATE_KEY"] = PUBLIC, PRIVATE
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    receiver = Receiver()
    naive = START.replace(tzinfo=None)
    world = PlanningWorld(seed=9, start=START.date() - timedelta(days=3))
    replay_world = PlanningWorld(seed=9, start=START.date() - timedelta(days=3))
    planning = PlanningSimulator(world, public_key=PUBLIC, private_key=PRIVATE).start()
    replay_planning = PlanningSimulator(
        replay_world, public_key=PUBLIC, private_key=PRIVATE
    ).start()
    repairs = RepairsSimulator(f"sqlite:///{WORK / 'repairs.db'}", seed=4, scale=0.05, start=naive)
    replay_repairs = RepairsSimulator(
        f"sqlite:///{WORK / 'replay-repairs.db'}", seed=4, scale=0.05, start=naive
    )
    repairs.create()
    replay_repairs.create()
    root = council(WORK / "council", repairs.url, planning.url, receiver.url)
    replay = council(WORK / "replay", replay_repairs.url, replay_planning.url, None)

    clock = ManualClock(START)
    project = Project.load(root)
    scheduler = Scheduler(project, clock=clock)
    looks = days * 24 * 4
    outage = (START + timedelta(days=1)).date()  # the planning API fails all of day 2
    kill_at = looks // 2 + 3
    broken_at = looks // 3 + 1
    tick_seconds: list[float] = []
    faults: list[str] = []
    wall = time.monotonic()
    drops = 0
    for look in range(looks):
        now = clock.now()
        planning.set_now(now)
        replay_planning.set_now(now)
        if look:
            repairs.cycle()
            replay_repairs.cycle()
        if look % 12 == 0:  # every three hours an application drops a file of events
            drops += 1
            drop_events(root, now, drops)
            drop_events(replay, now, drops)
        planning.set_faults(Faults(fail_rate=1.0) if now.date() == outage else Faults())
        if look == broken_at:
            faults.append("broken job file")
            (root / "jobs" / "repairs" / "open_orders.sql").write_text("SELEC status FROM x\n")
        if look == broken_at + 4:
            (root / "jobs" / "repairs" / "open_orders.sql").write_text(JOB_SQL)
        if look == kill_at:
            faults.append("killed run")
            scheduler.shutdown()
            code = killed_look(root, now)
            assert code == -9, f"the killed look exited {code}"
            project.store.close()
            project = Project.load(root)
            scheduler = Scheduler(project, clock=clock)
        for _ in range(3):  # sources, then the jobs downstream of what changed
            started = time.perf_counter()
            scheduler.tick()
            tick_seconds.append(time.perf_counter() - started)
            scheduler.wait()
        # the serial replay: the same inputs through a plain Runner, no faults
        runner = Runner(Project.load(replay), today=_local_date(now))
        select = ["repairs/drs"]
        if look % 4 == 0:
            select.append("housing/tenure_files")
        if _is_two_am(now):
            select.append("planning/planning_api")
        runner.run(select)
        clock.advance(STEP)
    faults.insert(0, "planning 5xx")
    subjects = {"planning 5xx": "planning/planning_api", "broken job file": JOB}
    subjects["killed run"] = "repairs/drs"
    scheduler.shutdown()
    jobs = ["repairs/open_orders", "planning/stages", "housing/events_by_kind"]
    Runner(Project.load(replay), today=_local_date(clock.now())).run(jobs)  # each job, once
    seconds = time.monotonic() - wall
    ours, theirs = tables(root), tables(replay)
    planning.stop()
    replay_planning.stop()
    receiver.stop()
    return {
        "days": days,
        "looks": looks,
        "runs": runs_by_status(root),
        "wall_seconds": round(seconds, 1),
        "tick_ms_median": round(statistics.median(tick_seconds) * 1000, 2),
        "tick_ms_p95": round(sorted(tick_seconds)[int(len(tick_seconds) * 0.95)] * 1000, 2),
        "tables_equal": {name: ours[name] == theirs[name] for name in TABLES},
        "rows": {name: len(ours[name]) for name in TABLES},
        "faults": faults,
        "one_alert_and_one_recovery_per_fault": all(
            sorted(a.get("event") for a in receiver.received if a.get("subject") == subject)
            == ["alert", "recovery"]
            for subject in subjects.values()
        )
        and len(receiver.received) == 2 * len(subjects),
        "alerts": [
            {k: a.get(k) for k in ("event", "department", "subject", "message")}
            for a in receiver.received
        ],
    }


def _local_date(moment: datetime) -> date:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Europe/London")).date()


def _is_two_am(moment: datetime) -> bool:
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("Europe/London"))
    return local.hour == 2 and local.minute == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    result = soak(args.days)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
