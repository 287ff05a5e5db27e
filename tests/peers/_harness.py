"""The peer suite's harness: dbt's snapshot history beside civiclake's, in one comparable form.

dbt runs in its own environment (``<venv>-peers``, made by ``scripts/bootstrap.sh``) through
``_dbt_driver.py``; it returns the source table before each ``dbt snapshot`` and the snapshot
table after the last. civiclake then receives the same source states along two routes:

* ``database``: a SQLite table synced by a ``database`` source, one sync per state
  (``cursor: updated_at`` for dbt's timestamp strategy, ``cursor: null`` + ``track:`` for check);
* ``files``: one CSV export per state into a ``files`` source with ``full_export: true``, each
  file named for a made-up export time (``src_20260101000000.csv``…).

Both histories become :class:`Version` rows — key and values as text, ``valid_from``,
``valid_to``, ``deleted`` — where a time that is a run's own clock (dbt's snapshot time,
civiclake's observation time) is written ``run <i>`` (the i-th snapshot, 0 first): the two tools
cannot share a wall clock, but they can agree on which run a change was seen in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from civiclake import Project, Runner, init_project
from civiclake.query import run_query

from .scenarios import Scenario

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("_dbt_driver.py")
INSTALL = (
    "scripts/bootstrap.sh (or: python3 -m venv .venv-peers && "
    ".venv-peers/bin/pip install -e '.[peers]')"
)
ROUTES = ("database", "files", "engine")
EXPORT_TIME = datetime(2026, 1, 1)
"""The files route's first export time; export i is ``i`` hours later."""


def peers_python() -> Path:
    """The peer environment's Python: ``CIVICLAKE_PEERS_PYTHON``, ``<venv>-peers``, ``.venv-peers``.

    A missing one fails the test with the command that installs it: the peer suite is part of
    the suite, never skipped.
    """
    candidates = [Path(p) for p in [os.environ.get("CIVICLAKE_PEERS_PYTHON")] if p]
    candidates += [Path(sys.prefix + "-peers") / "bin" / "python", REPO / ".venv-peers/bin/python"]
    for python in candidates:
        if python.exists():
            found = subprocess.run(
                [str(python), "-c", "import dbt.adapters.duckdb, dbt.tests.adapter"],
                capture_output=True,
                check=False,
            )
            if found.returncode == 0:
                return python
    pytest.fail(
        "the peer suite needs dbt-duckdb and dbt-tests-adapter in their own environment, "
        f"looked for {', '.join(str(c) for c in candidates)}: run {INSTALL}, or set "
        "CIVICLAKE_PEERS_PYTHON to a Python that has them",
        pytrace=False,
    )


# -- dbt's side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: list[tuple[str, str]]
    rows: list[list[Any]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        return cls([(c, t) for c, t in data["columns"]], data["rows"])

    def dicts(self) -> list[dict[str, Any]]:
        names = [c for c, _ in self.columns]
        return [dict(zip(names, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class DbtRun:
    """What dbt did with one scenario."""

    scenario: Scenario
    states: list[Table]
    """The source table as each ``dbt snapshot`` read it."""
    windows: list[tuple[datetime, datetime]]
    history: Table


def run_dbt(scenarios: Sequence[Scenario], out: Path) -> dict[str, DbtRun]:
    """Run every scenario through dbt in one subprocess of the peer environment."""
    python = peers_python()
    env = {**os.environ, "TZ": "UTC", "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "0"}
    done = subprocess.run(
        [str(python), str(DRIVER), str(out)],
        input=json.dumps([s.as_json() for s in scenarios]),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"dbt failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    by_name = {s.name: s for s in scenarios}
    return {
        r["name"]: DbtRun(
            scenario=by_name[r["name"]],
            states=[Table.from_json(t) for t in r["states"]],
            windows=[(_ts(a), _ts(b)) for a, b in r["windows"]],
            history=Table.from_json(r["history"]),
        )
        for r in json.loads(out.read_text())
    }


# -- one comparable form --------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Version:
    key: tuple[str, ...]
    valid_from: str
    valid_to: str
    deleted: bool
    values: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        gone = " deleted" if self.deleted else ""
        shown = ", ".join(f"{c}={v}" for c, v in self.values)
        return f"{'/'.join(self.key)} [{self.valid_from} → {self.valid_to}]{gone} {shown}"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def text(value: Any) -> str:
    """One spelling per value whichever tool kept it (a date is its midnight, times in UTC)."""
    if value is None:
        return "∅"
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat(sep=" ")
    if isinstance(value, float | Decimal) and float(value).is_integer():
        return str(int(value))
    return str(value)


Clock = Callable[[Any], str]


def window_clock(windows: Sequence[tuple[datetime, datetime]], *, dated: bool = False) -> Clock:
    """A time within run i's wall-clock window reads ``run i``; any other time as itself.

    ``dated``: dbt types its valid times like the ``updated_at`` column, so with a DATE column
    a snapshot time is only its day — every run of a test falls on it. Both sides then read
    a run's time as ``run (day)``.
    """
    days = {text(start.date()) for start, _ in windows} | {text(end.date()) for _, end in windows}

    def read(value: Any) -> str:
        shown = text(value)
        try:
            when = datetime.fromisoformat(shown)
        except ValueError:
            return shown
        for i, (start, end) in enumerate(windows):
            if start - timedelta(milliseconds=1) <= when <= end + timedelta(milliseconds=1):
                return "run (day)" if dated else f"run {i}"
        if dated and shown in days:
            return "run (day)"
        return shown

    return read


def is_dated(run: DbtRun) -> bool:
    """Whether dbt kept its valid times as dates (its ``updated_at`` column is a DATE)."""
    return dict(run.history.columns).get("dbt_valid_from") == "DATE"


def export_clock(runs: int, *, dated: bool = False) -> Clock:
    """The files and engine routes: export i's time reads ``run i`` (``run (day)``: dated)."""
    times = {
        text(EXPORT_TIME + timedelta(hours=i)): "run (day)" if dated else f"run {i}"
        for i in range(runs)
    }

    def read(value: Any) -> str:
        shown = text(value)
        return times.get(shown, shown)

    return read


def versions(
    rows: list[dict[str, Any]],
    scenario: Scenario,
    columns: Sequence[str],
    clock: Clock,
    *,
    valid: tuple[str, str],
    deleted: Callable[[dict[str, Any]], bool],
) -> list[Version]:
    data = [c for c in columns if c not in scenario.key]
    return sorted(
        Version(
            key=tuple(text(r[k]) for k in scenario.key),
            valid_from=clock(r[valid[0]]),
            valid_to=clock(r[valid[1]]),
            deleted=deleted(r),
            values=tuple((c, text(r.get(c))) for c in data),
        )
        for r in rows
    )


def data_columns(run: DbtRun) -> list[str]:
    """The source's columns as of its last state (a column added later is NULL before)."""
    return [c for c, _ in run.states[-1].columns]


def dbt_versions(run: DbtRun) -> list[Version]:
    return versions(
        run.history.dicts(),
        run.scenario,
        data_columns(run),
        window_clock(run.windows, dated=is_dated(run)),
        valid=("dbt_valid_from", "dbt_valid_to"),
        deleted=lambda r: r.get("dbt_is_deleted") == "True",
    )


# -- civiclake's side -----------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What civiclake kept of a scenario along one route."""

    history: list[Version]
    runs: list[tuple[datetime, datetime]]


def _project(root: Path, config: dict[str, Any]) -> Project:
    directory = init_project(root / "council", departments=["peers"])
    (directory / "sources" / "peers" / "src.yaml").write_text(yaml.safe_dump(config))
    return Project.load(directory)


def _run(project: Project) -> tuple[datetime, datetime]:
    started = datetime.now(UTC).replace(tzinfo=None)
    summary = Runner(project, retries=0, backoff_seconds=0).run(["peers/src"])
    ended = datetime.now(UTC).replace(tzinfo=None)
    assert summary.ok, [s.error for s in summary.steps]
    return started, ended


def _history(project: Project) -> list[dict[str, Any]]:
    return run_query(project, "SELECT * FROM peers_raw.src__history").read_all().to_pylist()


def _deleted(row: dict[str, Any]) -> bool:
    return bool(row.get("is_deleted", row.get("_deleted")))


def _history_options(s: Scenario) -> dict[str, Any]:
    track: Any = s.check_cols if s.strategy == "check" else "all"
    return {"track": track, "deletes": s.hard_deletes}


def replay_database(run: DbtRun, root: Path) -> Replay:
    """Each state into a SQLite table, then one sync (reconciling every time)."""
    import sqlalchemy as sa

    s = run.scenario
    url = f"sqlite:///{root / 'source.db'}"
    table_config: dict[str, Any] = {
        "key": s.key,
        "cursor": s.updated_at if s.strategy == "timestamp" else None,
        **_history_options(s),
    }
    project = _project(
        root,
        {
            "type": "database",
            "url": url,
            "tables": {"src": table_config},
            "reconcile_every_minutes": 0,
        },
    )
    engine = sa.create_engine(url)
    windows = []
    try:
        for state in run.states:
            _write_sqlite(engine, state)
            windows.append(_run(project))
    finally:
        engine.dispose()
    clock = window_clock(windows, dated=is_dated(run))
    return Replay(_civiclake_versions(project, run, clock), windows)


_SQLITE_TYPES = {"INTEGER": "INTEGER", "DATE": "DATE", "TIMESTAMP": "DATETIME"}


def _write_sqlite(engine: Any, state: Table) -> None:
    import sqlalchemy as sa

    with engine.begin() as con:
        have = {r[1] for r in con.exec_driver_sql("PRAGMA table_info(src)")}
        if not have:
            columns = ", ".join(
                f"{c} {_SQLITE_TYPES.get(t.split('(')[0], 'VARCHAR')}" for c, t in state.columns
            )
            con.exec_driver_sql(f"CREATE TABLE src ({columns})")
        for c, t in state.columns:
            if have and c not in have:
                kind = _SQLITE_TYPES.get(t.split("(")[0], "VARCHAR")
                con.exec_driver_sql(f"ALTER TABLE src ADD COLUMN {c} {kind}")
        con.exec_driver_sql("DELETE FROM src")
        table = sa.Table("src", sa.MetaData(), autoload_with=con)
        rows = [_sqlite_row(r, state.columns) for r in state.dicts()]
        if rows:
            con.execute(table.insert(), rows)


def _sqlite_row(row: dict[str, Any], columns: list[tuple[str, str]]) -> dict[str, Any]:
    out = {}
    for c, t in columns:
        v = row[c]
        if v is not None and t == "TIMESTAMP":
            v = datetime.fromisoformat(v)
        elif v is not None and t == "DATE":
            v = date.fromisoformat(v)
        out[c] = v
    return out


def replay_files(run: DbtRun, root: Path) -> Replay:
    """Each state as one full-export CSV named for its export time, then one run."""
    import csv

    s = run.scenario
    config: dict[str, Any] = {
        "type": "files",
        "patterns": ["src_{exported:%Y%m%d%H%M%S}.csv"],
        "key": s.key,
        "full_export": True,
        "min_file_age_seconds": 0,
        **_history_options(s),
    }
    if s.strategy == "timestamp":
        config["version"] = s.updated_at
    project = _project(root, config)
    inbox = Path(project.layout.landing_inbox("peers", "src"))
    inbox.mkdir(parents=True, exist_ok=True)
    windows = []
    for i, state in enumerate(run.states):
        exported = EXPORT_TIME + timedelta(hours=i)
        path = inbox / f"src_{exported:%Y%m%d%H%M%S}.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([c for c, _ in state.columns])
            writer.writerows([["" if v is None else v for v in row] for row in state.rows])
        old = path.stat().st_mtime - 3600
        os.utime(path, (old, old))  # complete long ago: taken at once
        windows.append(_run(project))
    clock = export_clock(len(run.states), dated=is_dated(run))
    return Replay(_civiclake_versions(project, run, clock), windows)


_ARROW_TYPES = {"INTEGER": "int64", "DATE": "date32", "TIMESTAMP": "timestamp[us]"}


def replay_engine(run: DbtRun, root: Path) -> Replay:
    """Each state as one full observation straight into the history engine, at export i's time.

    What a files source in snapshot mode does with export i; here the observation time is
    the test's to choose, so it reads ``run i`` exactly.
    """
    import pyarrow as pa

    from civiclake.snapshots import HistorySpec, apply_increment
    from civiclake.storage import DatasetRef

    s = run.scenario
    directory = init_project(root / "council", departments=["peers"])
    project = Project.load(directory)
    spec = HistorySpec(
        key=tuple(s.key),
        version=s.updated_at if s.strategy == "timestamp" else None,
        mode="observed",
        track=tuple(s.check_cols) if s.strategy == "check" and s.check_cols != "all" else None,
        deletes=s.hard_deletes,
    )
    windows = []
    for i, state in enumerate(run.states):
        arrays = {}
        for c, t in state.columns:
            kind = pa.type_for_alias(_ARROW_TYPES.get(t.split("(")[0], "string"))
            values = [_sqlite_row(r, state.columns)[c] for r in state.dicts()]
            arrays[c] = pa.array(values, kind)
        started = datetime.now(UTC).replace(tzinfo=None)
        apply_increment(
            project.catalog,
            DatasetRef("peers", "raw", "src"),
            pa.table(arrays),
            spec,
            app_id=f"export{i}",
            import_id=f"export{i}",
            producer="peers",
            observed_at=EXPORT_TIME + timedelta(hours=i),
            full=True,
        )
        windows.append((started, datetime.now(UTC).replace(tzinfo=None)))
    clock = export_clock(len(run.states), dated=is_dated(run))
    return Replay(_civiclake_versions(project, run, clock), windows)


def _civiclake_versions(project: Project, run: DbtRun, clock: Clock) -> list[Version]:
    return versions(
        _history(project),
        run.scenario,
        data_columns(run),
        clock,
        valid=("valid_from", "valid_to"),
        deleted=_deleted,
    )


REPLAYS: dict[str, Callable[[DbtRun, Path], Replay]] = {
    "database": replay_database,
    "files": replay_files,
    "engine": replay_engine,
}


def differences(theirs: list[Version], ours: list[Version]) -> list[str]:
    """Versions only dbt kept (``-``) and only civiclake kept (``+``), by key."""
    only_dbt = sorted((Counter(theirs) - Counter(ours)).elements())
    only_ours = sorted((Counter(ours) - Counter(theirs)).elements())
    lines = [f"- {v}" for v in only_dbt] + [f"+ {v}" for v in only_ours]
    return sorted(lines, key=lambda line: (line[2:], line[0]))
