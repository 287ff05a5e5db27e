"""Run sources and jobs in dependency order, in parallel, with retries and history.

The whole plan is checked before anything runs (unknown tables, cycles,
bad SQL). Then independent steps run side by side on a thread pool; a
transient failure is retried with backoff; a failed step blocks only its
downstream steps; every step's counts, timings and error land in the
metadata store and its log lines in ``.civiclake/logs/run-<id>.log``.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.config.secrets import REDACTOR
from civiclake.exceptions import CivicLakeError
from civiclake.lineage import new_import_id
from civiclake.metadata.store import now
from civiclake.retry import call_with_retries
from civiclake.runner.progress import NullReporter, Reporter
from civiclake.steps import Counts, RunContext, StepOutcome

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.runner.graph import Graph
    from civiclake.steps import Step


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


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return REDACTOR(super().format(record))


def _peak_memory_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


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
        self, select: list[str] | None = None, nodes: list[Step] | None = None
    ) -> tuple[Graph, list[str]]:
        """The graph and the selected step names in dependency order; errors come out here.

        ``nodes`` replaces the project's sources and jobs (one-off actions such
        as a backfill run as steps, with the same history and logs).
        """
        from civiclake.runner.graph import build_graph
        from civiclake.runner.plan import discover

        if nodes is None:
            nodes = discover(self.project)
        graph = build_graph(nodes, known=set(self.project.catalog.datasets()))
        chosen = set(graph.select(select)) if select else set(graph.order())
        return graph, [n for n in graph.order() if n in chosen]

    # -- running --------------------------------------------------------------
    def run(
        self,
        select: list[str] | None = None,
        *,
        command: str = "run",
        nodes: list[Step] | None = None,
    ) -> RunSummary:
        graph, names = self.plan(select, nodes)
        store = self.project.store
        started = time.monotonic()
        log_dir = self.project.logs_dir
        run_id, log_file = store.start_run(command, " ".join(select or []), log_dir, os.getpid())
        log_path = Path(log_file)
        logger, handler = self._logger(run_id, log_path)
        self._record_definitions(graph, names)
        logger.info("run %s: %d steps: %s", run_id, len(names), ", ".join(names))
        outcomes: dict[str, StepOutcome] = {}
        self.reporter.start(names)
        try:
            self._execute(graph, names, run_id, logger, outcomes)
        except BaseException as exc:  # Ctrl-C or a bug: record it, then let it propagate
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.reporter.stop()
            logger.removeHandler(handler)
            handler.close()
        steps = [outcomes[n] for n in names]
        status = "success" if all(s.status == "success" for s in steps) else "failed"
        failed = [s.name for s in steps if s.status == "failed"]
        store.finish_run(run_id, status, error=f"failed: {', '.join(failed)}" if failed else None)
        return RunSummary(run_id, status, steps, log_path, time.monotonic() - started)

    def _logger(self, run_id: int, log_path: Path) -> tuple[logging.Logger, logging.Handler]:
        logger = logging.getLogger(f"civiclake.run.{run_id}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        return logger, handler

    def _record_definitions(self, graph: Graph, names: list[str]) -> None:
        for name in names:
            d = graph.nodes[name].definition
            outputs = [o.qualified for o in d.writes]
            if d.kind == "source":
                self.project.store.upsert_node(
                    "sources",
                    name,
                    department=d.department,
                    type=d.type,
                    path=d.path,
                    description=d.description,
                    outputs=outputs,
                )
            elif d.kind == "job":
                self.project.store.upsert_node(
                    "jobs",
                    name,
                    department=d.department,
                    kind=d.type,
                    path=d.path,
                    output=outputs[0] if outputs else "",
                    materialize=d.materialize or "table",
                    inputs=[i.qualified for i in d.reads],
                )

    def _execute(
        self,
        graph: Graph,
        names: list[str],
        run_id: int,
        logger: logging.Logger,
        outcomes: dict[str, StepOutcome],
    ) -> None:
        chosen = set(names)
        deps = {n: set(graph.dependencies(n)) & chosen for n in names}
        steps = {
            n: self.project.store.add_step(run_id, n, graph.nodes[n].definition.kind) for n in names
        }
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
                        self.project.store.update_step(
                            steps[name], status="blocked", error=outcome.error
                        )
                        logger.warning("%s blocked: %s", name, outcome.error)
                        self.reporter.node_finished(outcome)
                    elif all(d in outcomes for d in deps[name]) and len(running) < self.threads:
                        pending.remove(name)
                        future = pool.submit(
                            self._run_step, graph.nodes[name], run_id, steps[name], logger
                        )
                        running[future] = name
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    outcomes[name] = future.result()
                    self.reporter.node_finished(outcomes[name])

    def _run_step(
        self, node: Step, run_id: int, step_id: int, run_log: logging.Logger
    ) -> StepOutcome:
        store = self.project.store
        d = node.definition
        log = run_log.getChild(d.name.replace("/", "."))
        started = time.monotonic()
        store.update_step(step_id, status="running", started_at=now())
        self.reporter.node_started(d.name)
        import_id = new_import_id()  # one per step: a retry is the same import
        log.info("started (import %s)", import_id)

        def attempt(number: int) -> Counts:
            ctx = RunContext(
                project=self.project,
                run_id=run_id,
                import_id=import_id,
                log=log,
                today=self.today or date.today(),
                progress=lambda done, total: self.reporter.node_progress(d.name, done, total),
            )
            store.update_step(step_id, attempts=number)
            try:
                return node.run(ctx)
            finally:
                ctx.close()

        def on_retry(number: int, exc: BaseException, delay: float) -> None:
            log.warning("attempt %d failed (%s); retrying in %.1fs", number, exc, delay)

        try:
            result, attempts = call_with_retries(
                attempt,
                retries=self.retries,
                base_delay=self.backoff,
                on_retry=on_retry,
                sleep=self._sleep,
            )
        except Exception as exc:
            message = REDACTOR(str(exc) if isinstance(exc, CivicLakeError) else _describe(exc))
            log.error("failed: %s", message, exc_info=not isinstance(exc, CivicLakeError))
            store.update_step(
                step_id,
                status="failed",
                ended_at=now(),
                error=message,
                peak_memory_bytes=_peak_memory_bytes(),
            )
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
        store.update_step(
            step_id,
            status="success",
            ended_at=now(),
            rows_in=result.rows_in,
            rows_out=result.rows_out,
            rows_rejected=result.rows_rejected,
            bytes_written=result.bytes_written,
            peak_memory_bytes=_peak_memory_bytes(),
        )
        return StepOutcome(
            d.name,
            d.kind,
            "success",
            result=result,
            attempts=attempts,
            seconds=time.monotonic() - started,
        )


def _describe(exc: BaseException) -> str:
    """An unexpected error: its type and message (the traceback goes to the log)."""
    return f"{type(exc).__name__}: {exc}"
