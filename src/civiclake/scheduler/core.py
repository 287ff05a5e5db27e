"""Decide what runs now: sources by their ``schedule:``, jobs when their inputs changed.

One look at the clock and the catalog is a *tick*:

- A source with a ``schedule:`` is due when its next slot has passed. Missed slots (the
  scheduler was down) are caught up **once** — one run, however many slots went by — or
  skipped (``scheduler.catch_up: skip``). A daily source's one catch-up run covers every
  missed day, because its cursor pulls from where the last run stopped.
- A job (or a publish step) without a schedule runs when the catalog version of any of
  its inputs, or its own file, differs from what it last ran on — asset-based, like
  Dagster's auto-materialisation — and not while any step upstream of it is due or
  running, so it runs once after them rather than once per input.
- A step never overlaps itself: while its run is going (here, or another process holds
  the datasets it writes) it stays due and starts when that run has finished.
- A paused step's slots are dropped; it resumes at its next slot.

Runs go to a small pool (``scheduler.max_parallel_runs``); each is an ordinary
:class:`~civiclake.runner.Runner` run, recorded, logged, leased and alerted like a
``civiclake run``. State lives in the metadata store (:mod:`civiclake.metadata.schedules`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from civiclake.config.schedule import Schedule, parse_schedule
from civiclake.exceptions import CivicLakeError
from civiclake.metadata.leases import Leases
from civiclake.metadata.schedules import ScheduleState, ScheduleStates
from civiclake.scheduler.clock import Clock, SystemClock

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.runner.graph import Graph
    from civiclake.runner.runner import Runner, RunSummary

_LOG = logging.getLogger("civiclake.scheduler")
_MAX_SLOTS = 100_000
"""Slots counted when catching up (a minutely schedule down for two months)."""
_FILE = "@file"
"""The key of a job's own file in ``inputs_seen``: editing the job runs it again."""


@dataclass(frozen=True)
class Dispatch:
    """One run the scheduler started, and why."""

    steps: tuple[str, ...]
    reason: str
    at: datetime
    slot: datetime | None = None
    missed: int = 0
    """Slots that passed without a run, caught up by this one."""


RunnerFactory = Callable[["Project", date], "Runner"]


def _default_runner(project: Project, today: date) -> Runner:
    from civiclake.runner.runner import Runner

    return Runner(project, today=today)


class Scheduler:
    """Starts the project's runs when they are due (see the module docstring)."""

    def __init__(
        self,
        project: Project,
        *,
        clock: Clock | None = None,
        runner: RunnerFactory = _default_runner,
        alerts: bool = True,
    ) -> None:
        self.project = project
        self.clock: Clock = clock or SystemClock()
        self.cfg = project.config.scheduler
        self.zone = project.config.timezone
        self.states = ScheduleStates(project.store)
        self._runner = runner
        self._alerts = alerts
        self._pool = ThreadPoolExecutor(self.cfg.max_parallel_runs, thread_name_prefix="sched")
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[None]] = {}
        self._said: set[tuple[str, str]] = set()
        self.woken = threading.Event()
        """Set when a run finishes or a stop is asked: the daemon looks again at once."""
        self.stopping = threading.Event()
        self.dispatched: list[Dispatch] = []
        """Every run started, oldest first (for `scheduler status` and tests)."""
        self.errors: list[str] = []
        self._recovered = False

    # -- one look -------------------------------------------------------------------
    def tick(self) -> list[Dispatch]:
        """Start every run that is due now; returns what was started."""
        now = self.clock.now()
        graph = self._graph()
        if graph is None:
            return []
        states = self.states.all()
        if not self._recovered:
            self._recover(graph, states, now)
        versions = self._versions()
        started: list[Dispatch] = []
        due: set[str] = set()
        for name in graph.order():
            d = graph.nodes[name].definition
            if d.schedule:
                dispatch = self._source_due(name, parse_schedule(d.schedule), states, now)
                if dispatch is not None:
                    due.add(name)
                    if self._free(graph, name, now):
                        started.append(dispatch)
        stale = self._stale_jobs(graph, states, versions, due | set(self.running()))
        if stale:
            chosen = set(stale)
            for name in stale:
                chosen.update(
                    n
                    for n in graph.downstream(name)
                    if not graph.nodes[n].definition.schedule and n not in self.running()
                )
            names = tuple(graph.ordered(chosen))
            reasons = "; ".join(f"{n}: {stale[n]}" for n in graph.ordered(stale))
            started.append(Dispatch(names, reasons, now))
        for dispatch in started:
            self._start(graph, dispatch, states, versions)
        if self._alerts:
            from civiclake.alerts import check_freshness

            definitions = [node.definition for node in graph.nodes.values()]
            try:
                check_freshness(self.project, now, definitions=definitions, log=_LOG)
            except Exception as exc:  # an alert channel down must not stop the schedule
                self._error(f"freshness check at {now:%H:%M}: {exc}")
        return started

    def next_wake(self) -> datetime:
        """When something is next due (at most ``tick_seconds`` away)."""
        now = self.clock.now()
        soonest = now + timedelta(seconds=self.cfg.tick_seconds)
        for state in self.states.all().values():
            if state.next_due_at is not None and not state.paused:
                soonest = min(soonest, max(now, state.next_due_at))
        return soonest

    def request_stop(self) -> None:
        """Start nothing more (the daemon drains and exits); safe from a signal handler."""
        self.stopping.set()
        self.woken.set()

    def running(self) -> set[str]:
        """Steps whose run is going now."""
        with self._lock:
            return set(self._inflight)

    def wait(self) -> None:
        """Wait for every run started so far to finish."""
        while True:
            with self._lock:
                futures = list(self._inflight.values())
            if not futures:
                return
            for future in futures:
                future.result()

    def shutdown(self) -> None:
        """Let running runs finish; start nothing more."""
        self.wait()
        self._pool.shutdown(wait=True)

    # -- sources on a schedule ---------------------------------------------------------
    def _source_due(
        self, name: str, schedule: Schedule, states: dict[str, ScheduleState], now: datetime
    ) -> Dispatch | None:
        state = states.get(name) or ScheduleState(name)
        if state.next_due_at is None:  # first sight, or resumed: the next slot from now
            state = replace(state, next_due_at=schedule.next_after(now, self.zone))
            self._save(states, state)
        assert state.next_due_at is not None
        if state.next_due_at > now:
            return None
        slots = [state.next_due_at]
        while len(slots) < _MAX_SLOTS:
            following = schedule.next_after(slots[-1], self.zone)
            if following > now:
                break
            slots.append(following)
        slot = slots[-1]
        late = (now - slot).total_seconds() > self.cfg.grace_seconds
        # slots that passed without an on-time run (the latest too, when it is late)
        missed = len(slots) if late else len(slots) - 1
        if state.paused:
            self._say(name, "paused", f"{name}: paused by {state.paused_by}; slot {slot} skipped")
            self._save(states, replace(state, next_due_at=schedule.next_after(now, self.zone)))
            return None
        self._said.discard((name, "paused"))
        if self.cfg.catch_up == "skip" and late:
            _LOG.info("%s: %d missed slot(s) skipped (scheduler.catch_up: skip)", name, missed)
            self._save(states, replace(state, next_due_at=schedule.next_after(now, self.zone)))
            return None
        if missed:
            since = state.next_due_at
            reason = f"catch-up: {missed} missed slot(s) since {since:%Y-%m-%d %H:%M} UTC, run once"
        else:
            reason = f"due {slot:%Y-%m-%d %H:%M} UTC ({schedule.text})"
        return Dispatch((name,), reason, now, slot=slot, missed=missed)

    def _free(self, graph: Graph, name: str, now: datetime) -> bool:
        """Not running here, and no other process writing what it writes (no overlap)."""
        if name in self.running():
            self._say(name, "overlap", f"{name}: still running; starts again when it ends")
            return False
        writes = {ref.qualified for ref in graph.nodes[name].definition.writes}
        for held in Leases(self.project.store).held():
            if held.resource in writes:
                self._say(
                    name,
                    "overlap",
                    f"{name}: not started, {held.resource} is being written by {held.holder} "
                    f"since {held.since:%H:%M:%S}; starts when it has finished",
                )
                return False
        self._said.discard((name, "overlap"))
        return True

    # -- jobs when their inputs change -------------------------------------------------
    def _stale_jobs(
        self,
        graph: Graph,
        states: dict[str, ScheduleState],
        versions: dict[str, int | None],
        busy: set[str],
    ) -> dict[str, str]:
        """Jobs to run now, each with why: inputs changed, or never built."""
        stale: dict[str, str] = {}
        for name in graph.order():
            d = graph.nodes[name].definition
            if d.kind not in ("job", "publish") or d.schedule or name in busy:
                continue
            if any(u in busy or u in stale for u in graph.upstream(name)):
                continue  # runs once after its upstream, not once per input
            seen = self._inputs(graph, name, versions)
            state = states.get(name)
            if state is None or not state.inputs_seen:
                if all(ref.qualified in versions for ref in d.writes):
                    # built before the scheduler knew it: it is current until an input moves
                    self._save(states, replace(state or ScheduleState(name), inputs_seen=seen))
                    continue
                if all(ref.qualified in versions for ref in d.reads):
                    stale[name] = "not built yet"
                continue  # else: waits for its inputs to exist
            changed = sorted(k for k in seen if seen[k] != state.inputs_seen.get(k))
            if changed:
                what = ["its file" if k == _FILE else k for k in changed]
                stale[name] = f"changed: {', '.join(what)}"
        return stale

    def _inputs(
        self, graph: Graph, name: str, versions: dict[str, int | None]
    ) -> dict[str, int | None]:
        d = graph.nodes[name].definition
        seen: dict[str, int | None] = {
            ref.qualified: versions.get(ref.qualified) for ref in d.reads
        }
        if d.path:
            path = Path(d.path)
            path = path if path.is_absolute() else self.project.dir / path
            seen[_FILE] = path.stat().st_mtime_ns if path.exists() else None
        return seen

    # -- running ------------------------------------------------------------------------
    def _start(
        self,
        graph: Graph,
        dispatch: Dispatch,
        states: dict[str, ScheduleState],
        versions: dict[str, int | None],
    ) -> None:
        for name in dispatch.steps:
            d = graph.nodes[name].definition
            state = states.get(name) or ScheduleState(name)
            if d.schedule and dispatch.slot is not None:
                nxt = parse_schedule(d.schedule).next_after(dispatch.at, self.zone)
                state = replace(state, last_due_at=dispatch.slot, next_due_at=nxt)
            state = replace(state, last_status="running", last_started_at=dispatch.at)
            self._save(states, state)
        _LOG.info("starting %s (%s)", ", ".join(dispatch.steps), dispatch.reason)
        self.dispatched.append(dispatch)
        with self._lock:
            future = self._pool.submit(self._run, graph, dispatch, dict(versions))
            for name in dispatch.steps:
                self._inflight[name] = future

    def _run(self, graph: Graph, dispatch: Dispatch, before: dict[str, int | None]) -> None:
        today = self.clock.now().astimezone(ZoneInfo(self.zone)).date()
        summary: RunSummary | None = None
        try:
            summary = self._runner(self.project, today).run(
                list(dispatch.steps), command="scheduler", lenient=True
            )
        except CivicLakeError as exc:
            self._error(f"{', '.join(dispatch.steps)}: {exc}")
        except Exception as exc:
            self._error(f"{', '.join(dispatch.steps)}: {type(exc).__name__}: {exc}")
            _LOG.exception("run of %s failed unexpectedly", ", ".join(dispatch.steps))
        finally:
            self._finished(graph, dispatch, summary, before)

    def _finished(
        self,
        graph: Graph,
        dispatch: Dispatch,
        summary: RunSummary | None,
        before: dict[str, int | None],
    ) -> None:
        after = self._versions()
        written = {
            ref.qualified for n in dispatch.steps for ref in graph.nodes[n].definition.writes
        }
        current = {k: (after if k in written else before).get(k) for k in after | before}
        outcomes = {o.name: o for o in summary.steps} if summary else {}
        ended = self.clock.now()
        for name in dispatch.steps:
            state = self.states.get(name) or ScheduleState(name)
            outcome = outcomes.get(name)
            status = outcome.status if outcome else "failed"
            state = replace(
                state,
                last_status=status,
                last_run_id=summary.run_id if summary else state.last_run_id,
                last_ended_at=ended,
            )
            ran = summary is not None and status != "blocked"
            if graph.nodes[name].definition.kind in ("job", "publish") and ran:
                # success or failure, it ran on these inputs: a failed job waits for a new
                # input or an edit of its file instead of failing again every tick (a run
                # that never started — its datasets busy past the wait — is tried again)
                state = replace(state, inputs_seen=self._inputs(graph, name, current))
            self.states.save(state)
        with self._lock:
            for name in dispatch.steps:
                self._inflight.pop(name, None)
        self.woken.set()

    def _recover(self, graph: Graph, states: dict[str, ScheduleState], now: datetime) -> None:
        """On the first look: a step left ``running`` by a scheduler that died ran no more
        (its run is recorded abandoned); its department hears of it once, and its next
        slot, or its inputs, start it again (whose success sends the recovery notice)."""
        self._recovered = True
        for state in list(states.values()):
            if state.last_status != "running" or state.step in self.running():
                continue
            message = (
                f"{state.step}: run {state.last_run_id or '?'} never finished (the scheduler "
                "stopped or was killed mid-run); it runs again at its next slot"
            )
            _LOG.warning("%s", message)
            self._save(states, replace(state, last_status="abandoned"))
            node = graph.nodes.get(state.step)
            if self._alerts and node is not None:
                from civiclake.alerts import report

                try:
                    report(
                        self.project,
                        kind="failure",
                        department=node.definition.department,
                        subject=state.step,
                        failing=True,
                        message=message,
                        run_id=state.last_run_id,
                        now=now,
                        log=_LOG,
                    )
                except Exception as exc:
                    self._error(f"alert for {state.step}: {exc}")

    # -- helpers ------------------------------------------------------------------------
    def _graph(self) -> Graph | None:
        """The project's steps as they are on disk now (new and edited files included)."""
        try:
            graph, _ = self._runner(self.project, date.today()).plan(lenient=True)
        except CivicLakeError as exc:
            self._error(f"cannot plan the project: {exc}")
            return None
        return graph

    def _versions(self) -> dict[str, int | None]:
        return {row["qualified_name"]: row["version"] for row in self.project.store.datasets()}

    def _save(self, states: dict[str, ScheduleState], state: ScheduleState) -> None:
        states[state.step] = state
        self.states.save(state)

    def _say(self, name: str, what: str, message: str) -> None:
        """Log ``message`` once until the condition clears (no line per tick)."""
        if (name, what) not in self._said:
            self._said.add((name, what))
            _LOG.info("%s", message)

    def _error(self, message: str) -> None:
        self.errors.append(message)
        _LOG.error("%s", message)


__all__ = ["Dispatch", "Scheduler"]
