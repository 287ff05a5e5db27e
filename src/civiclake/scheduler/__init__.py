"""The scheduler: sources on their ``schedule:``, jobs when their inputs change.

- :mod:`.core` — one tick: what is due, catch-up, overlap, asset-based jobs.
- :mod:`.daemon` — the foreground loop, leadership among schedulers, SIGTERM drain.
- :mod:`.clock` — the system clock, and a manual one for tests and benchmarks.
"""

from civiclake.scheduler.clock import Clock, ManualClock, SystemClock
from civiclake.scheduler.core import Dispatch, Scheduler
from civiclake.scheduler.daemon import serve

__all__ = ["Clock", "Dispatch", "ManualClock", "Scheduler", "SystemClock", "serve"]
