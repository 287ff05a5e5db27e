"""When an HTTP request is worth repeating, and how long to wait first.

Transient: 5xx, 429 (too many requests), 408, timeouts and dropped
connections. Each retry waits ``backoff_seconds * 2**n`` (capped, with jitter,
shared with the runner's :func:`~civiclake.retry.backoff_delays`),
except that a ``Retry-After`` header on 429 or 503 is honoured as sent (in
seconds or as an HTTP date), up to ``max_retry_after_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from civiclake.retry import backoff_delays

RETRY_AFTER_STATUSES = frozenset({429, 503})


def is_transient(status: int) -> bool:
    """A status worth retrying: the server was busy or broken, not the request wrong."""
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    """Retries after the first attempt (so ``retries + 1`` requests at most)."""
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0
    """A longer ``Retry-After`` is cut to this (a page must not stall a run for hours)."""

    def delays(self) -> list[float]:
        """The backoff before each retry, with jitter, drawn once per page."""
        return backoff_delays(self.retries, self.backoff_seconds, cap=self.max_backoff_seconds)

    def wait(self, backoff: float, retry_after: float | None) -> float:
        if retry_after is None:
            return backoff
        return min(retry_after, self.max_retry_after_seconds)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: ``"120"`` or an HTTP date; None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


__all__ = ["RETRY_AFTER_STATUSES", "RetryPolicy", "is_transient", "retry_after_seconds"]
