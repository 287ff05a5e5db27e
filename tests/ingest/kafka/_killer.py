"""Run a kafka source in forked children and SIGKILL each at a random moment.

Started as its own process by ``test_crash.py`` (so nothing in it has touched
DuckDB or delta-rs before forking): ``python _killer.py PROJECT_DIR TRIALS SEED``.
Prints one line per trial: the delay before the kill.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time


def consume_forever(project_dir: str) -> None:
    import logging
    import threading

    from civiclake.ingest.base import load_sources
    from civiclake.project import Project

    project = Project.load(project_dir)
    source = next(s for s in load_sources(project) if s.type == "kafka")
    source.consume("killed", logging.getLogger("killed"), threading.Event(), catch_up=False)


def main() -> None:
    project_dir, trials, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # import everything the child needs once, before forking (nothing is started yet)
    import confluent_kafka  # noqa: F401
    import deltalake  # noqa: F401
    import duckdb  # noqa: F401
    import pyarrow  # noqa: F401

    import civiclake.ingest.kafka.consumer
    import civiclake.project  # noqa: F401

    rng = random.Random(seed)
    for trial in range(trials):
        delay = rng.uniform(0.2, 2.0)
        pid = os.fork()
        if pid == 0:
            try:
                consume_forever(project_dir)
            finally:
                os._exit(0)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print(f"trial {trial}: killed after {delay:.2f}s", flush=True)


if __name__ == "__main__":
    main()
