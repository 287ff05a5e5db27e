"""One run's record: its run row, step rows and redacted log, for batch runs and streams alike.

:class:`RunRecorder` is what the :class:`~civiclake.runner.runner.Runner` writes through,
and its streaming mode too, so ``civiclake runs`` / ``status`` read one shape whatever ran,
and every log line passes the secret redactor::

    with RunRecorder(project, "run", "housing/rents") as recorder:
        step = recorder.add_step(definition)
        recorder.started(step)
        recorder.succeeded(step, counts, attempts=1)
        recorder.finish("success")
"""

from __future__ import annotations

import logging
import os
import resource
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from civiclake.config.secrets import REDACTOR
from civiclake.exceptions import disk_full
from civiclake.metadata.store import now

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.runner.telemetry import Telemetry
    from civiclake.steps import Counts, StepDefinition


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return REDACTOR(super().format(record))


class _RunLogHandler(logging.FileHandler):
    """The run log file; when it cannot be written (a full disk), one warning on stderr
    instead of Python's ``--- Logging error ---`` and a traceback for every line."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            exc = sys.exc_info()[1]
            why = "the disk is full" if exc is not None and disk_full(exc) else f"{exc}"
            sys.stderr.write(
                f"warning: the run log {self.baseFilename} cannot be written ({why}); "
                "the run goes on, its later log lines are lost\n"
            )


def peak_memory_bytes() -> int:
    """This process's peak resident memory so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class RunRecorder:
    """Records one run in the metadata store and its log file."""

    def __init__(self, project: Project, command: str, selection: str = "") -> None:
        self.project = project
        self.store = project.store
        self.run_id, log_file = self.store.start_run(
            command, selection, project.logs_dir, os.getpid()
        )
        self.log_path = Path(log_file)
        self.log = logging.getLogger(f"civiclake.run.{self.run_id}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self._handler = _RunLogHandler(self.log_path, encoding="utf-8")
        self._handler.setFormatter(
            _RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        self.log.addHandler(self._handler)
        self._finished = False

    # -- the run ----------------------------------------------------------------
    def finish(self, status: str, error: str | None = None) -> None:
        self.store.finish_run(self.run_id, status, error=error)
        self._finished = True

    def close(self) -> None:
        self.log.removeHandler(self._handler)
        self._handler.close()

    def __enter__(self) -> RunRecorder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Ctrl-C or a bug while running: the run is recorded as failed, then it propagates."""
        try:
            if exc is not None and not self._finished:
                self.finish("failed", REDACTOR(f"{type(exc).__name__}: {exc}"))
        finally:
            self.close()

    # -- steps ------------------------------------------------------------------
    def define(self, definition: StepDefinition) -> None:
        """Keep the catalog's list of sources and jobs current with what ran."""
        d = definition
        outputs = [o.qualified for o in d.writes]
        if d.kind == "source":
            self.store.upsert_node(
                "sources",
                d.name,
                department=d.department,
                type=d.type,
                path=d.path,
                description=d.description,
                outputs=outputs,
            )
        elif d.kind == "job":
            self.store.upsert_node(
                "jobs",
                d.name,
                department=d.department,
                kind=d.type,
                path=d.path,
                output=outputs[0] if outputs else "",
                materialize=d.materialize or "table",
                inputs=[i.qualified for i in d.reads],
            )

    def add_step(self, definition: StepDefinition) -> int:
        return self.store.add_step(self.run_id, definition.name, definition.kind)

    def step_log(self, definition: StepDefinition) -> logging.Logger:
        return self.log.getChild(definition.name.replace("/", "."))

    def started(self, step_id: int) -> None:
        self.store.update_step(step_id, status="running", started_at=now())

    def attempt(self, step_id: int, number: int) -> None:
        self.store.update_step(step_id, attempts=number)

    def blocked(self, step_id: int, error: str) -> None:
        self.store.update_step(step_id, status="blocked", error=error)

    def failed(self, step_id: int, error: str, telemetry: Telemetry | None = None) -> None:
        self.store.update_step(
            step_id,
            status="failed",
            ended_at=now(),
            error=REDACTOR(error),
            peak_memory_bytes=peak_memory_bytes(),
            **_measures(telemetry),
        )

    def succeeded(self, step_id: int, result: Counts, telemetry: Telemetry | None = None) -> None:
        self.store.update_step(
            step_id,
            status="success",
            ended_at=now(),
            rows_in=result.rows_in,
            rows_out=result.rows_out,
            rows_rejected=result.rows_rejected,
            bytes_written=result.bytes_written,
            peak_memory_bytes=peak_memory_bytes(),
            **_measures(telemetry),
        )


def _measures(telemetry: Telemetry | None) -> dict[str, float | int | None]:
    """The step's CPU, bytes read and spill columns (left empty when it was not measured)."""
    if telemetry is None:
        return {}
    return {
        "cpu_seconds": telemetry.cpu_seconds,
        "bytes_read": telemetry.bytes_read,
        "spilled_bytes": telemetry.spilled_bytes,
    }


__all__ = ["RunRecorder", "peak_memory_bytes"]
