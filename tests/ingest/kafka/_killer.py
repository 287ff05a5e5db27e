"""Run a kafka source in forked children, each SIGKILLed by a fault point at one of its commits.

Started as its own process by ``test_crash.py`` (so nothing in it has touched DuckDB or
delta-rs before forking): ``python _killer.py PROJECT_DIR LOG_DIR POINTS``, where ``POINTS`` is
``count`` (one child, not killed) or ``before:N,after:N,...`` (one child each, killed just
before or after its N-th Delta commit; see ``tests/_faults.py``). Each child catches up with the
topic from where the one before it died. Child ``i`` logs its commits to ``LOG_DIR/i.log``; one
line is printed per child: ``trial i: killed before commit N`` or ``trial i: exited ...``.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path


def consume(project_dir: str) -> None:
    import logging
    import threading

    from civiclake import Project
    from civiclake.ingest.base import load_sources

    project = Project.load(project_dir)
    source = next(s for s in load_sources(project) if s.type == "kafka")
    source.consume("killed", logging.getLogger("killed"), threading.Event(), catch_up=True)


def main() -> None:
    project_dir, log_dir, points = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for _faults
    # import everything the child needs once, before forking (nothing is started yet)
    import confluent_kafka  # noqa: F401
    import deltalake  # noqa: F401
    import duckdb  # noqa: F401
    import pyarrow  # noqa: F401

    import _faults  # type: ignore[import-not-found]
    import civiclake.ingest.kafka.consumer
    import civiclake.project  # noqa: F401

    plan = [(None, None)] if points == "count" else [p.split(":") for p in points.split(",")]
    for trial, (when, n) in enumerate(plan):
        log = log_dir / f"{trial}.log"
        pid = os.fork()
        if pid == 0:
            try:
                _faults.kill_at_delta_commit(
                    None if n is None else int(n), when or "before", log=str(log)
                )
                consume(project_dir)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        made = len(_faults.calls(log))
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and str(made) == n:
            print(f"trial {trial}: killed {when} commit {n}", flush=True)
        else:
            print(f"trial {trial}: exited ({status}) after {made} commits", flush=True)


if __name__ == "__main__":
    main()
