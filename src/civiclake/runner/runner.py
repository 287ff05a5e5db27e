"""Run sources and jobs in dependency order, in parallel, with retries and history.

The whole plan is checked before anything runs (unknown tables, cycles,
bad SQL). Then independent steps run side by side on a thread pool; a
transient failure is retried with backoff; a failed step blocks only its
downstream steps; every step's counts, timings and error land in the
metadata store and its log lines in ``.civiclake/logs/run-<id>.log``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.config.secrets import REDACTOR
from civiclake.exceptions import CivicLakeError, disk_full, disk_full_error
from civiclake.lineage import new_import_id
from civiclake.retry import call_with_retries
from civiclake.runner.locks import holding
from civiclake.runner.progress import NullReporter, Reporter
from civiclake.runner.recorder import RunRecorder
from civiclake.runner.telemetry import StepMeter
from civiclake.steps import Counts, RunContext, StepDefinition, StepOutcome

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.runner.graph import Graph
    from civiclake.steps import Step, Streamable


@dataclass
class RunSummary:
    run_id: int
    status: str
    steps: list[StepOutcome]
    log_path: Path
    seconds: float

    @property
    def failed(self) -> list[StepOutcome]:
        return [s for s in self.steps if s.status != "success"]

    @property
    def ok(self) -> bool:
        return self.status == "success"


class Runner:
    """Executes a selection of a project's sources and jobs."""

    def __init__(
        self,
        project: Project,
        *,
        threads: int | None = None,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        reporter: Reporter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        today: date | None = None,
    ) -> None:
        cfg = project.config.run
        self.project = project
        self.threads = threads or cfg.threads
        self.retries = cfg.retries if retries is None else retries
        self.backoff = cfg.retry_backoff_seconds if backoff_seconds is None else backoff_seconds
        self.reporter = reporter or NullReporter()
        self._sleep = sleep
        self.today = today
        """The run's business date (sources pull up to the day before); None = today."""

    # -- planning -------------------------------------------------------------
    def plan(
        self,
        select: list[str] | None = None,
        nodes: list[Step] | None = None,
        *,
        lenient: bool = False,
    ) -> tuple[Graph, list[str]]:
        """The graph and the selected step names in dependency order; errors come out here.

        ``nodes`` replaces the project's sources and jobs (one-off actions such
        as a backfill run as steps, with the same history and logs). ``lenient``: a step
        reading an unknown table fails alone instead of stopping the plan (the scheduler).
        """
        from civiclake.runner.graph import build_graph
        from civiclake.runner.plan import discover

        if nodes is None:
            nodes = discover(self.project)
        graph = build_graph(nodes, known=set(self.project.catalog.datasets()), lenient=lenient)
        chosen = set(graph.select(select)) if select else set(graph.order())
        return graph, [n for n in graph.order() if n in chosen]

    # -- running --------------------------------------------------------------
    def run(
        self,
        select: list[str] | None = None,
        *,
        command: str = "run",
        nodes: list[Step] | None = None,
        lenient: bool = False,
    ) -> RunSummary:
        graph, names = self.plan(select, nodes, lenient=lenient)
        started = time.monotonic()
        with RunRecorder(self.project, command, " ".join(select or [])) as recorder:
            for name in names:
                recorder.define(graph.nodes[name].definition)
            recorder.log.info("run %s: %d steps: %s", recorder.run_id, len(names), ", ".join(names))
            outcomes: dict[str, StepOutcome] = {}
            writes = [ref.qualified for n in names for ref in graph.nodes[n].definition.writes]
            with holding(
                self.project,
                writes,
                holder=f"run {recorder.run_id} (civiclake {command.strip()})",
                run_id=recorder.run_id,
                log=recorder.log,
            ):
                self.reporter.start(names)
                try:
                    self._execute(graph, names, recorder, outcomes)
                finally:
                    self.reporter.stop()
            steps = [outcomes[n] for n in names]
            status = "success" if all(s.status == "success" for s in steps) else "failed"
            failed = [s.name for s in steps if s.status == "failed"]
            recorder.finish(status, f"failed: {', '.join(failed)}" if failed else None)
            self._alert(recorder, [(graph.nodes[n].definition, outcomes[n]) for n in names])
        return RunSummary(
            recorder.run_id, status, steps, recorder.log_path, time.monotonic() - started
        )

    def stream(
        self,
        step: Streamable,
        stop: threading.Event,
        *,
        catch_up: bool = False,
        poll: float = 5.0,
        on_batch: Callable[[Counts], None] = lambda counts: None,
    ) -> RunSummary:
        """Run one stream source until ``stop`` is set (or, ``catch_up``, read to its end).

        The streaming mode of a run: one run with one step, recorded and logged (redacted)
        as any run is; a failure is recorded, then raised.
        """
        d = step.definition
        started = time.monotonic()
        with RunRecorder(self.project, f"stream {d.name}", d.name) as recorder:
            recorder.define(d)
            step_id = recorder.add_step(d)
            recorder.started(step_id)
            ctx = RunContext(
                project=self.project,
                run_id=recorder.run_id,
                import_id=new_import_id(),
                log=recorder.step_log(d),
                today=self.today or date.today(),
            )
            try:
                with holding(
                    self.project,
                    [ref.qualified for ref in d.writes],
                    holder=f"run {recorder.run_id} (civiclake stream {d.name})",
                    run_id=recorder.run_id,
                    log=recorder.log,
                ):
                    result = step.stream(ctx, stop, catch_up=catch_up, poll=poll, on_batch=on_batch)
            except Exception as exc:
                recorder.failed(step_id, _message(exc))
                raise
            finally:
                ctx.close()
            recorder.succeeded(step_id, result)
            recorder.finish("success")
        outcome = StepOutcome(d.name, d.kind, "success", result=result, attempts=1)
        return RunSummary(
            recorder.run_id, "success", [outcome], recorder.log_path, time.monotonic() - started
        )

    def _alert(
        self, recorder: RunRecorder, steps: list[tuple[StepDefinition, StepOutcome]]
    ) -> None:
        """Open and close the run's incidents and deliver what is due; never fails the run
        (a channel that is down is logged and retried by the next evaluation)."""
        from civiclake.alerts import evaluate_run

        try:
            evaluate_run(self.project, recorder.run_id, steps, log=recorder.log)
        except CivicLakeError as exc:
            recorder.log.warning("alerts not evaluated: %s", REDACTOR(str(exc)))

    def _execute(
        self,
        graph: Graph,
        names: list[str],
        recorder: RunRecorder,
        outcomes: dict[str, StepOutcome],
    ) -> None:
        chosen = set(names)
        deps = {n: set(graph.dependencies(n)) & chosen for n in names}
        steps = {n: recorder.add_step(graph.nodes[n].definition) for n in names}
        pending = list(names)
        running: dict[Future[StepOutcome], str] = {}
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="civiclake") as pool:
            while pending or running:
                for name in list(pending):
                    bad = sorted(
                        d for d in deps[name] if d in outcomes and outcomes[d].status != "success"
                    )
                    if bad:
                        pending.remove(name)
                        outcome = StepOutcome(
                            name,
                            graph.nodes[name].definition.kind,
                            "blocked",
                            error=f"not run: upstream {', '.join(bad)} did not succeed",
                        )
                        outcomes[name] = outcome
                        recorder.blocked(steps[name], outcome.error or "")
                        recorder.log.warning("%s blocked: %s", name, outcome.error)
                        self.reporter.node_finished(outcome)
                    elif all(d in outcomes for d in deps[name]) and len(running) < self.threads:
                        pending.remove(name)
                        future = pool.submit(
                            self._run_step, graph.nodes[name], recorder, steps[name]
                        )
                        running[future] = name
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    outcomes[name] = future.result()
                    self.reporter.node_finished(outcomes[name])

    def _run_step(self, node: Step, recorder: RunRecorder, step_id: int) -> StepOutcome:
        d = node.definition
        log = recorder.step_log(d)
        started = time.monotonic()
        recorder.started(step_id)
        self.reporter.node_started(d.name)
        import_id = new_import_id()  # one per step: a retry is the same import
        log.info("started (import %s)", import_id)

        def attempt(number: int) -> Counts:
            ctx = RunContext(
                project=self.project,
                run_id=recorder.run_id,
                import_id=import_id,
                log=log,
                today=self.today or date.today(),
                progress=lambda done, total: self.reporter.node_progress(d.name, done, total),
            )
            recorder.attempt(step_id, number)
            try:
                return node.run(ctx)
            finally:
                ctx.close()

        def on_retry(number: int, exc: BaseException, delay: float) -> None:
            log.warning("attempt %d failed (%s); retrying in %.1fs", number, exc, delay)

        meter = StepMeter(self._spill_root() / f"step-{step_id}")
        try:
            with meter:
                result, attempts = call_with_retries(
                    attempt,
                    retries=self.retries,
                    base_delay=self.backoff,
                    on_retry=on_retry,
                    sleep=self._sleep,
                )
        except Exception as exc:
            message = _message(exc)
            # our own errors need no traceback, unless they wrap an unexpected one (a
            # Python job's bug): then the log keeps the whole chain
            unexpected = not isinstance(exc, CivicLakeError) or exc.__cause__ is not None
            log.error("failed: %s", message, exc_info=unexpected)
            recorder.failed(step_id, message, meter.result)
            return StepOutcome(
                d.name, d.kind, "failed", error=message, seconds=time.monotonic() - started
            )
        for note in result.notes:
            log.info("note: %s", note)
        log.info(
            "succeeded: rows in %d, out %d, rejected %d, %d bytes written",
            result.rows_in,
            result.rows_out,
            result.rows_rejected,
            result.bytes_written,
        )
        recorder.succeeded(step_id, result, meter.result)
        return StepOutcome(
            d.name,
            d.kind,
            "success",
            result=result,
            attempts=attempts,
            seconds=time.monotonic() - started,
        )

    def _spill_root(self) -> Path:
        """Where steps spill: each step gets ``step-<id>`` below it, measured and removed."""
        return self.project.connections.temp_directory or self.project.dir / ".civiclake" / "tmp"


def _message(exc: BaseException) -> str:
    """What a failure says: our errors' own message; an unexpected one's type and message
    (its traceback goes to the log); a full disk, whoever met it, the one disk-full message.
    Redacted."""
    if disk_full(exc):
        exc = disk_full_error(exc, "running this step")
    return REDACTOR(str(exc) if isinstance(exc, CivicLakeError) else f"{type(exc).__name__}: {exc}")
