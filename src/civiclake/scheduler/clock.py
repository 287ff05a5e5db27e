"""The scheduler's clock: the system's, or one a test or a benchmark moves by hand.

The scheduler never calls ``datetime.now`` or ``time.sleep`` itself, so a simulated week
of 15-minute syncs runs in seconds and every slot lands on a known instant::

    clock = ManualClock(datetime(2027, 3, 27, 23, 0, tzinfo=UTC))
    scheduler = Scheduler(project, clock=clock)
    scheduler.tick()
    clock.advance(timedelta(minutes=15))
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        """Wait ``seconds``, or less when ``wake`` is set (a run finished, a stop)."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        wake.wait(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told (or when the scheduler sleeps on it)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start, e.g. tzinfo=UTC")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        """Jump ahead at once: simulated time passes instantly."""
        self.advance(timedelta(seconds=max(0.0, seconds)))


__all__ = ["Clock", "ManualClock", "SystemClock"]
