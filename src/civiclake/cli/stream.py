"""``civiclake stream <department>/<source>``: consume an event stream until stopped.

A ``kafka`` source consumes its topic continuously; an ``events`` source
checks its landing folder every ``--poll`` seconds. SIGTERM or Ctrl-C stops
it cleanly: the batch in flight is committed (rows and offsets together),
the consumer leaves its group, and the run is recorded as a success. A
SIGKILL loses nothing either — the next start resumes from the tables'
committed offsets — but the run shows as ``abandoned``.

This is the streaming mode of the runner (:meth:`~civiclake.runner.runner.Runner.stream`):
the run, its step and its redacted log are recorded as any run's are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from civiclake.cli.options import ProjectOpt

if TYPE_CHECKING:
    from civiclake.steps import Counts


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
    """Consume a kafka (or events) source continuously; SIGTERM stops after the batch in flight.

    Example:

        civiclake stream housing/events --catch-up
    """
    import signal
    import threading

    from civiclake.config.suggest import did_you_mean
    from civiclake.exceptions import ConfigError
    from civiclake.project import Project
    from civiclake.runner.plan import discover
    from civiclake.runner.runner import Runner
    from civiclake.steps import Streamable

    project = Project.load(project_dir)
    streams = {
        step.definition.name: step
        for step in discover(project, ["sources"])
        if step.definition.capabilities.stream and isinstance(step, Streamable)
    }
    chosen = streams.get(source)
    if chosen is None:
        raise ConfigError(
            f"no stream source {source!r}{did_you_mean(source, sorted(streams))}; stream "
            f"sources (type kafka or events): {', '.join(sorted(streams)) or 'none'}"
        )
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: leave now; the tables' offsets keep us safe
            raise KeyboardInterrupt
        print("stopping after the batch in flight…", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(f"streaming {source}; Ctrl-C or SIGTERM to stop", flush=True)

    def show(batch: Counts) -> None:
        print(
            f"batch: {batch.rows_in} message(s), {batch.rows_out} decoded, "
            f"{batch.rows_rejected} rejected, {batch.versions} new version(s)",
            flush=True,
        )

    summary = Runner(project).stream(chosen, stop, catch_up=catch_up, poll=poll, on_batch=show)
    result = summary.steps[0].result
    for note in result.notes:
        print(note, flush=True)
    print(
        f"stopped cleanly (run {summary.run_id}): {result.rows_in} message(s) this run", flush=True
    )


__all__ = ["stream"]
