"""Retry with exponential backoff, by exception *type* (never by message)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from civiclake.exceptions import Transient

T = TypeVar("T")


def backoff_delays(retries: int, base: float, *, cap: float = 60.0) -> list[float]:
    """``base * 2**n`` seconds for each retry, capped, with up to 10% jitter."""
    return [min(cap, base * 2**n) * (1 + random.random() / 10) for n in range(retries)]


def call_with_retries(
    fn: Callable[[int], T],
    *,
    retries: int,
    base_delay: float,
    on_retry: Callable[[int, BaseException, float], None] = lambda attempt, exc, delay: None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Call ``fn(attempt)`` until it succeeds; retry only :class:`Transient` errors.

    Returns the result and the number of attempts made. The last transient
    error is re-raised when retries run out; any other error at once.
    """
    delays = backoff_delays(retries, base_delay)
    attempt = 1
    while True:
        try:
            return fn(attempt), attempt
        except Transient as exc:
            if attempt > len(delays):
                raise
            delay = delays[attempt - 1]
            on_retry(attempt, exc, delay)
            sleep(delay)
            attempt += 1
