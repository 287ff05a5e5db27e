"""Right-sizing advice from the run history: what to change for each step, with the evidence.

:func:`advise` is pure — it reads recorded telemetry (:class:`Evidence`) and returns
:class:`Advice` — so every rule is tested on step rows with known answers; :func:`gather`
collects the evidence of a project (its run history, jobs, sources' schedules, history
tables' files). ``civiclake advise`` prints the result.

The rules, each needing at least :data:`MIN_RUNS` successful runs of the step in the window:

``memory-low``
    the step spilled to disk: raise ``engine.memory_limit`` by what it spilled.
``memory-high``
    no step spilled and the highest peak of the process in any step is under a quarter of
    ``engine.memory_limit``: lower it (other processes get the memory).
``threads-idle``
    in runs where the step ran alone (its CPU figure is then its own), it kept fewer than
    half of ``engine.threads`` busy (CPU time ≪ wall time × threads).
``incremental``
    a ``materialize: table`` job rewrites all its rows each run while the steps writing its
    inputs bring under a tenth of that per run.
``schedule``
    most runs of a source brought no rows: it runs more often than its data changes.
``compaction``
    a keyed dataset's history holds many small recent files or many versions since its last
    compaction (the log is read back :data:`COMPACTION_VERSIONS` commits at most).
``outgrows-machine``
    a step spilled more than the machine's memory: one machine is too small; the Spark engine
    that would take it is not available yet.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from civiclake.exceptions import ConfigError

if TYPE_CHECKING:
    from civiclake.metadata.store import StepRecord
    from civiclake.project import Project

MIN_RUNS = 3
"""Successful runs of a step needed before any rule speaks about it."""
MEMORY_HIGH_FRACTION = 0.25
"""``memory-high`` when the highest peak is under this fraction of the limit."""
THREADS_BUSY_FRACTION = 0.5
"""``threads-idle`` when CPU time is under this fraction of wall time × threads."""
THREADS_MIN_SECONDS = 1.0
"""Steps shorter than this are not judged on threads (start-up dominates)."""
INCREMENTAL_FRACTION = 0.1
"""``incremental`` when inputs change by under this fraction of the output per run."""
INCREMENTAL_MIN_ROWS = 10_000
"""Jobs smaller than this rebuild fast enough; no advice."""
EMPTY_RUNS_FRACTION = 0.75
"""``schedule`` when at least this fraction of a source's runs brought no rows."""
COMPACTION_SMALL_FILES = 50
"""``compaction`` when a history's recent tier holds this many files under 16 MB…"""
COMPACTION_VERSIONS = 100
"""…or this many versions have been committed since its last compaction."""
SMALL_FILE_BYTES = 16 * 1024**2

Rule = Literal[
    "memory-low",
    "memory-high",
    "threads-idle",
    "incremental",
    "schedule",
    "compaction",
    "outgrows-machine",
]


@dataclass(frozen=True)
class Advice:
    """One thing to change, about one step or dataset, with the numbers that show why."""

    subject: str
    """The step (``housing/rents``), dataset (``housing_raw.tenancies``) or setting."""
    rule: Rule
    change: str
    """What to change, as the user would do it (a config key, a header line, a command)."""
    evidence: str
    """The figures from the runs, in words."""
    figures: dict[str, Any] = field(default_factory=dict)
    """The same figures as numbers (for ``--format json``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobFacts:
    name: str
    materialize: str
    inputs: tuple[str, ...]
    """Qualified names of the datasets it reads."""


@dataclass(frozen=True)
class TableFacts:
    """A keyed dataset's history table as its Delta log describes it."""

    dataset: str
    recent_files: int
    small_recent_files: int
    versions_since_compaction: int


@dataclass(frozen=True)
class Evidence:
    """Everything the rules read: recorded steps and what the project declares."""

    steps: Sequence[StepRecord]
    memory_limit_bytes: int
    threads: int
    machine_memory_bytes: int
    jobs: Sequence[JobFacts] = ()
    producers: dict[str, str] = field(default_factory=dict)
    """Dataset qualified name → the step that writes it."""
    schedules: dict[str, str] = field(default_factory=dict)
    """Source step name → its ``schedule:`` (absent: it runs with every ``civiclake run``)."""
    tables: Sequence[TableFacts] = ()


# -- the rules -------------------------------------------------------------------------
def advise(evidence: Evidence) -> list[Advice]:
    """Every piece of advice the evidence supports, by subject then rule."""
    ok = [s for s in evidence.steps if s.status == "success"]
    by_step: dict[str, list[StepRecord]] = defaultdict(list)
    for s in ok:
        by_step[s.node].append(s)
    judged = {name: runs for name, runs in by_step.items() if len(runs) >= MIN_RUNS}
    found: list[Advice] = []
    found += _memory(evidence, judged)
    found += _threads(evidence, judged, solo=_solo_steps(evidence.steps))
    found += _incremental(evidence, judged, by_step)
    found += _schedules(evidence, judged)
    found += _compaction(evidence)
    return sorted(found, key=lambda a: (a.subject, a.rule))


def _memory(evidence: Evidence, judged: dict[str, list[StepRecord]]) -> list[Advice]:
    limit = evidence.memory_limit_bytes
    found: list[Advice] = []
    for name, runs in sorted(judged.items()):
        spilled = [s.spilled_bytes or 0 for s in runs]
        worst = max(spilled)
        if worst <= 0:
            continue
        times = sum(1 for b in spilled if b > 0)
        if limit + worst > evidence.machine_memory_bytes:
            found.append(
                Advice(
                    name,
                    "outgrows-machine",
                    "this step needs more memory than the machine has: the Spark engine "
                    "(engine.name: spark) that would spread it over several machines is not "
                    "available yet; meanwhile give it a larger machine or split the job",
                    f"spilled up to {_size(worst)} beyond engine.memory_limit {_size(limit)}, "
                    f"more than the machine's {_size(evidence.machine_memory_bytes)}",
                    {
                        "spilled_bytes_max": worst,
                        "memory_limit_bytes": limit,
                        "machine_memory_bytes": evidence.machine_memory_bytes,
                    },
                )
            )
            continue
        suggested = _round_up_gb(limit + worst)
        found.append(
            Advice(
                name,
                "memory-low",
                f"raise engine.memory_limit from {_size(limit)} to {_size(suggested)}",
                f"spilled to disk in {times} of {len(runs)} runs, up to {_size(worst)} "
                f"(engine.memory_limit {_size(limit)})",
                {
                    "runs": len(runs),
                    "runs_spilled": times,
                    "spilled_bytes_max": worst,
                    "memory_limit_bytes": limit,
                    "suggested_bytes": suggested,
                },
            )
        )
    all_runs = [s for runs in judged.values() for s in runs]
    peaks = [s for s in all_runs if s.peak_memory_bytes]
    if not peaks or any((s.spilled_bytes or 0) > 0 for s in all_runs):
        return found
    top = max(peaks, key=lambda s: s.peak_memory_bytes or 0)
    peak = top.peak_memory_bytes or 0
    if peak < MEMORY_HIGH_FRACTION * limit:
        suggested = _round_up_gb(2 * peak)
        found.append(
            Advice(
                "engine.memory_limit",
                "memory-high",
                f"lower engine.memory_limit from {_size(limit)} to {_size(suggested)}",
                f"the highest peak memory of any step in {len(all_runs)} step runs was "
                f"{_size(peak)} ({top.node}, run {top.run_id}), {peak / limit:.0%} of the "
                "limit, and nothing spilled",
                {
                    "runs": len(all_runs),
                    "peak_memory_bytes": peak,
                    "memory_limit_bytes": limit,
                    "suggested_bytes": suggested,
                },
            )
        )
    return found


def _solo_steps(steps: Sequence[StepRecord]) -> set[int]:
    """Ids of the steps that ran with no other step of their run at the same time."""
    by_run: dict[int, list[StepRecord]] = defaultdict(list)
    for s in steps:
        if s.started_at and s.ended_at:
            by_run[s.run_id].append(s)
    solo: set[int] = set()
    for runs in by_run.values():
        for s in runs:
            assert s.started_at and s.ended_at
            overlaps = any(
                o.id != s.id
                and o.started_at is not None
                and o.ended_at is not None
                and o.started_at < s.ended_at
                and s.started_at < o.ended_at
                for o in runs
            )
            if not overlaps:
                solo.add(s.id)
    return solo


def _threads(
    evidence: Evidence, judged: dict[str, list[StepRecord]], *, solo: set[int]
) -> list[Advice]:
    threads = evidence.threads
    found: list[Advice] = []
    for name, runs in sorted(judged.items()):
        alone = [
            s
            for s in runs
            if s.id in solo
            and s.cpu_seconds is not None
            and (s.seconds or 0) >= THREADS_MIN_SECONDS
        ]
        if len(alone) < MIN_RUNS or threads < 2:
            continue
        busy = statistics.median((s.cpu_seconds or 0) / (s.seconds or 1) for s in alone)
        if busy >= THREADS_BUSY_FRACTION * threads:
            continue
        wall = statistics.median(s.seconds or 0 for s in alone)
        cpu = statistics.median(s.cpu_seconds or 0 for s in alone)
        useful = max(1, math.ceil(busy))
        found.append(
            Advice(
                name,
                "threads-idle",
                f"it keeps {busy:.1f} of its {threads} DuckDB threads busy, so more will not "
                f"speed it up: lower engine.threads to {useful}, or raise run.threads so other "
                "steps use the idle cores beside it",
                f"median CPU {cpu:.1f} s over {wall:.1f} s wall × {threads} threads in "
                f"{len(alone)} runs where it ran alone",
                {
                    "runs": len(alone),
                    "cpu_seconds_median": round(cpu, 3),
                    "wall_seconds_median": round(wall, 3),
                    "threads": threads,
                    "busy_threads": round(busy, 2),
                },
            )
        )
    return found


def _incremental(
    evidence: Evidence,
    judged: dict[str, list[StepRecord]],
    by_step: dict[str, list[StepRecord]],
) -> list[Advice]:
    found: list[Advice] = []
    for job in sorted(evidence.jobs, key=lambda j: j.name):
        runs = judged.get(job.name)
        if job.materialize != "table" or not runs:
            continue
        producers = sorted({evidence.producers[i] for i in job.inputs if i in evidence.producers})
        if not producers:
            continue
        per_run: dict[int, int] = defaultdict(int)
        for p in producers:
            for s in by_step.get(p, []):
                per_run[s.run_id] += s.rows_out or 0
        changed = [per_run[s.run_id] for s in runs if s.run_id in per_run]
        if len(changed) < MIN_RUNS:
            continue
        output = statistics.median(s.rows_out or 0 for s in runs)
        change = statistics.median(changed)
        if output < INCREMENTAL_MIN_ROWS or change >= INCREMENTAL_FRACTION * output:
            continue
        found.append(
            Advice(
                job.name,
                "incremental",
                "declare `materialize: incremental` with a `key:` in the job's header (it "
                "then upserts what changed instead of rewriting the table)",
                f"it rewrites {output:,.0f} rows per run (median of {len(runs)}) while "
                f"{', '.join(producers)} brought {change:,.0f} rows per run "
                f"({change / output:.1%})",
                {
                    "runs": len(runs),
                    "rows_out_median": output,
                    "input_rows_changed_median": change,
                    "fraction": round(change / output, 4),
                    "inputs_from": producers,
                },
            )
        )
    return found


def _schedules(evidence: Evidence, judged: dict[str, list[StepRecord]]) -> list[Advice]:
    found: list[Advice] = []
    for name, runs in sorted(judged.items()):
        if runs[0].kind != "source":
            continue
        empty = [s for s in runs if not s.rows_out]
        if len(empty) < EMPTY_RUNS_FRACTION * len(runs):
            continue
        schedule = evidence.schedules.get(name)
        now = f"schedule: {schedule}" if schedule else "it runs with every `civiclake run`"
        brought = [s for s in runs if s.rows_out]
        gap = _typical_gap(brought) or _span(runs)
        figures: dict[str, Any] = {"runs": len(runs), "runs_empty": len(empty)}
        suggestion = "schedule it less often"
        if gap is not None:
            figures["hours_between_changes"] = round(gap.total_seconds() / 3600, 1)
            suggestion = f"schedule it {_every(gap)}"
        found.append(
            Advice(
                name,
                "schedule",
                f"{suggestion} (now {now})",
                f"{len(empty)} of {len(runs)} runs brought no rows"
                + (f"; its data changed about every {_duration(gap)}" if gap else ""),
                {**figures, "schedule": schedule or ""},
            )
        )
    return found


def _compaction(evidence: Evidence) -> list[Advice]:
    found: list[Advice] = []
    for t in evidence.tables:
        if (
            t.small_recent_files < COMPACTION_SMALL_FILES
            and t.versions_since_compaction < COMPACTION_VERSIONS
        ):
            continue
        versions = t.versions_since_compaction
        counted = f"at least {versions}" if versions >= COMPACTION_VERSIONS else str(versions)
        found.append(
            Advice(
                t.dataset,
                "compaction",
                f"run `civiclake history compact {t.dataset}` (reads then touch fewer files)",
                f"{t.small_recent_files} small files among {t.recent_files} recent ones and "
                f"{counted} versions since its last compaction",
                asdict(t),
            )
        )
    return found


# -- gathering a project's evidence -------------------------------------------------------
def gather(project: Project, since: datetime) -> Evidence:
    """The project's evidence for runs started at or after ``since``."""
    from civiclake.runner.plan import discover

    store = project.store
    jobs = [
        JobFacts(row["node"], row["materialize"], tuple(row["inputs"] or ()))
        for row in store.nodes("jobs")
    ]
    producers = {
        row["qualified_name"]: row["producer"] for row in store.datasets() if row["producer"]
    }
    schedules = {
        s.definition.name: s.definition.schedule
        for s in discover(project, ["sources"])
        if s.definition.schedule
    }
    return Evidence(
        steps=store.steps_since(since),
        memory_limit_bytes=parse_size(project.config.engine.memory_limit),
        threads=project.config.engine.threads,
        machine_memory_bytes=machine_memory(),
        jobs=jobs,
        producers=producers,
        schedules=schedules,
        tables=list(_history_tables(project)),
    )


def _history_tables(project: Project) -> Iterable[TableFacts]:
    from civiclake.snapshots import open_history
    from civiclake.snapshots.compact import COMPACT_OPERATION

    catalog = project.catalog
    for ref in catalog.datasets():
        uri = catalog.uri(ref)
        table = open_history(project.tables, uri)
        if table is None:
            continue
        since = 0
        for commit in project.tables.open(uri).history(limit=COMPACTION_VERSIONS):
            if commit.get("civiclake.operation") == COMPACT_OPERATION:
                break
            if not str(commit.get("operation", "")).startswith("VACUUM"):  # its own commits
                since += 1
        small = sum(1 for f in table.recent if f.size < SMALL_FILE_BYTES)
        yield TableFacts(ref.qualified, len(table.recent), small, since)


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 * 1024**3


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}


def parse_size(text: str) -> int:
    """``4GB`` → bytes, as DuckDB reads ``memory_limit`` (KB/MB/GB are powers of 1000, KiB/MiB/GiB
    of 1024)."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"engine.memory_limit {text!r} is not a size like 4GB or 512MB")
    unit = (m.group(2) or "").upper()
    factor = 1024 ** ("KMGT".index(unit[0]) + 1) if unit.endswith("IB") else _UNIT[unit]
    return int(float(m.group(1)) * factor)


_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")


def parse_since(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w`` → a time span."""
    m = _SINCE.match(text.lower())
    if not m:
        raise ConfigError(f"--since {text!r} is not a span like 30d, 12h or 2w")
    n, unit = int(m.group(1)), m.group(2)
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


# -- wording ----------------------------------------------------------------------------
def _size(n: float) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return (
                f"{value:.0f} {unit}"
                if unit == "B"
                else f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
            )
        value /= 1000
    return f"{value:.1f} TB"


def _round_up_gb(n: float) -> int:
    """Up to a whole GB (the unit people set limits in); at least 1 GB."""
    return max(1, math.ceil(n / 1000**3)) * 1000**3


def _typical_gap(runs: Sequence[StepRecord]) -> timedelta | None:
    times = sorted(s.started_at for s in runs if s.started_at)
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    return gaps[len(gaps) // 2] if gaps else None


def _span(runs: Sequence[StepRecord]) -> timedelta | None:
    times = sorted(s.started_at for s in runs if s.started_at)
    return times[-1] - times[0] if len(times) > 1 else None


def _every(gap: timedelta) -> str:
    hours = gap.total_seconds() / 3600
    if hours >= 24:
        return "`daily at 02:00`"
    if hours >= 1:
        return f"`every {math.floor(hours)} hours`" if hours >= 2 else "`hourly`"
    return f"`every {max(1, math.floor(hours * 60))} minutes`"


def _duration(gap: timedelta) -> str:
    hours = gap.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    if hours >= 1:
        return f"{hours:.0f} hours"
    return f"{gap.total_seconds() / 60:.0f} minutes"


__all__ = [
    "Advice",
    "Evidence",
    "JobFacts",
    "TableFacts",
    "advise",
    "gather",
    "machine_memory",
    "parse_since",
    "parse_size",
]
