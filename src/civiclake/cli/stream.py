"""``civiclake stream <department>/<source>``: consume an event stream until stopped.

A ``kafka`` source consumes its topic continuously; an ``events`` source
checks its landing folder every ``--poll`` seconds. SIGTERM or Ctrl-C stops
it cleanly: the batch in flight is committed (rows and offsets together),
the consumer leaves its group, and the run is recorded as a success. A
SIGKILL loses nothing either — the next start resumes from the tables'
committed offsets — but the run shows as ``abandoned``.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from civiclake.cli.options import ProjectOpt


def stream(
    source: Annotated[str, typer.Argument(help="The stream source, <department>/<source>.")],
    project_dir: ProjectOpt = None,
    poll: Annotated[
        float, typer.Option(min=0.1, help="Seconds between folder checks (events sources).")
    ] = 5.0,
    catch_up: Annotated[
        bool, typer.Option("--catch-up", help="Stop once the stream is read to its end.")
    ] = False,
) -> None:
    """Consume a kafka (or events) source continuously; SIGTERM stops after the batch in flight."""
    import logging
    import signal
    import threading

    from civiclake.exceptions import ConfigError
    from civiclake.ingest.base import Source
    from civiclake.lineage import new_import_id
    from civiclake.metadata.store import now
    from civiclake.project import Project
    from civiclake.steps import Counts, RunContext

    project = Project.load(project_dir)
    from civiclake.runner.plan import discover

    sources: dict[str, Source[Any]] = {}
    for step in discover(project, ["sources"]):
        assert isinstance(step, Source)
        sources[step.name] = step
    chosen = sources.get(source)
    streams = sorted(n for n, s in sources.items() if s.type in ("kafka", "events"))
    if chosen is None or chosen.type not in ("kafka", "events"):
        from civiclake.config.suggest import did_you_mean

        raise ConfigError(
            f"no stream source {source!r}{did_you_mean(source, streams)}; stream sources "
            f"(type kafka or events): {', '.join(streams) or 'none'}"
        )
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: leave now; the tables' offsets keep us safe
            raise KeyboardInterrupt
        print("stopping after the batch in flight…", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    store = project.store
    logs = project.logs_dir
    run_id, log_file = store.start_run(f"stream {source}", source, logs, os.getpid())
    step_id = store.add_step(run_id, chosen.name, "source", status="running")
    store.update_step(step_id, started_at=now(), log_path=log_file)
    log = logging.getLogger(f"civiclake.stream.{chosen.name}")
    if not log.handlers:
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    import_id = new_import_id()
    print(f"streaming {chosen.name} (run {run_id}); Ctrl-C or SIGTERM to stop", flush=True)

    def show(outcome: object) -> None:
        print(
            f"batch: {getattr(outcome, 'messages', 0)} message(s), "
            f"{getattr(outcome, 'decoded', 0)} decoded, {getattr(outcome, 'rejected', 0)} "
            f"rejected, {getattr(outcome, 'versions', 0)} new version(s)",
            flush=True,
        )

    result = Counts()
    try:
        if chosen.type == "kafka":
            result = chosen.consume(  # type: ignore[attr-defined]
                import_id, log, stop, catch_up=catch_up, on_batch=show
            )
        else:
            ctx = RunContext(project, run_id=run_id, import_id=import_id, log=log)
            while not stop.is_set():
                done = chosen.run(ctx)
                _add(result, done)
                if done.rows_in:
                    show(_Shown(done))
                if catch_up:
                    break
                stop.wait(poll)
    except Exception as exc:
        store.update_step(step_id, status="failed", ended_at=now(), error=str(exc))
        store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    store.update_step(
        step_id,
        status="success",
        ended_at=now(),
        rows_in=result.rows_in,
        rows_out=result.rows_out,
        rows_rejected=result.rows_rejected,
        bytes_written=result.bytes_written,
    )
    store.finish_run(run_id, "success")
    for note in result.notes:
        print(note, flush=True)
    print(f"stopped cleanly: {result.rows_in} message(s) this run", flush=True)


class _Shown:
    """A step result as the per-batch line shows it."""

    def __init__(self, result: object) -> None:
        self.messages = getattr(result, "rows_in", 0)
        self.decoded = getattr(result, "rows_out", 0)
        self.rejected = getattr(result, "rows_rejected", 0)
        self.versions = 0


def _add(total: object, more: object) -> None:
    for name in ("rows_in", "rows_out", "rows_rejected", "bytes_written"):
        setattr(total, name, getattr(total, name) + getattr(more, name))


__all__ = ["stream"]
