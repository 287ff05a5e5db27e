"""Which days and pages a run requests, and what it remembers for the next one.

One cursor per table, kept in the metadata store as JSON::

    {"pulled_through": "2026-03-08",   every day up to here was requested…
     "complete_through": "2026-03-06", …and up to here has all its pages
     "failed": [{"params": {"last_updated": "2026-03-07"}, "pages": [3],
                 "total": 412, "per_page": 50, "since": "2026-03-09",
                 "error": "HTTP 500"}],
     "last_batch": 17}                 the newest landing batch applied

The rules:

* **First run** (no cursor): the full listing, no ``last_updated``; then
  ``pulled_through`` is the day before the run's business date.
* **Later runs** request each day from ``pulled_through - overlap_days`` to
  the day before the business date: the new days, the last day already
  pulled and ``overlap_days`` days before it, where late updates land (a
  version stamped on day D may become visible days later). Never older than
  ``today - lookback_days`` (days never pulled that the cap cuts off are named
  in the notes, for ``backfill``). A run with no new day requests no overlap
  day either, so re-running a day (or the runner's retry) fetches only what
  failed.
* **Failed pages** are remembered as their listing plus page numbers (the
  whole listing when its first page failed, since the page count is then
  unknown) and requested again by the next run, exactly those pages; unless
  the day is requested whole anyway. Page boundaries of a day's listing move
  when records join or leave it, so if the refetched pages report a total
  other than the one seen when they failed, the rest of that day is fetched
  too. The full listing only grows at its end (new ids), so its pages stay put.
* ``pulled_through`` advances over every requested day, whether its pages all
  arrived or not: the pages that did not are in ``failed``, so nothing is
  pulled twice and nothing is skipped. ``complete_through`` is the last day
  before the oldest day with a remembered failure: every day up to it is
  whole in history. A day is complete once all its pages were applied.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from civiclake.ingest.rest.client import Outcome, Query

DAY_PARAM = "last_updated"
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class FailedListing:
    """Pages of one listing still to fetch (``pages`` None: the whole listing)."""

    params: dict[str, str]
    pages: list[int] | None
    total: int | None
    per_page: int | None
    since: str
    """Business date of the run where they first failed."""
    error: str

    @property
    def day(self) -> date | None:
        value = self.params.get(DAY_PARAM)
        return date.fromisoformat(value) if value else None

    @property
    def label(self) -> str:
        listing = f"last_updated={self.params[DAY_PARAM]}" if self.day else "full listing"
        shown = "all pages" if self.pages is None else _pages(self.pages)
        return f"{listing} {shown} ({self.error})"

    def query(self, resource: str) -> Query:
        return Query.of(resource, self.params, self.pages)


@dataclass(frozen=True)
class Cursor:
    pulled_through: date | None = None
    failed: list[FailedListing] = field(default_factory=list)
    last_batch: int = 0

    @property
    def complete_through(self) -> date | None:
        if self.pulled_through is None:
            return None
        days = [f.day for f in self.failed]
        if any(d is None for d in days):
            return None  # a page of the first full load is still missing
        oldest = min((d for d in days if d is not None), default=None)
        return (
            self.pulled_through if oldest is None else min(self.pulled_through, oldest - _ONE_DAY)
        )

    def to_json(self) -> dict[str, Any]:
        complete = self.complete_through
        return {
            "pulled_through": self.pulled_through.isoformat() if self.pulled_through else None,
            "complete_through": complete.isoformat() if complete else None,
            "failed": [asdict(f) for f in self.failed],
            "last_batch": self.last_batch,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Cursor:
        if not data:
            return cls()
        through = data.get("pulled_through")
        return cls(
            pulled_through=date.fromisoformat(through) if through else None,
            failed=[FailedListing(**f) for f in data.get("failed", [])],
            last_batch=int(data.get("last_batch", 0)),
        )

    @classmethod
    def loads(cls, text: str | None) -> Cursor:
        return cls.from_json(json.loads(text) if text else None)


@dataclass(frozen=True)
class Plan:
    """What one pull requests."""

    full: bool
    days: list[date]
    retry: list[FailedListing]
    """Remembered failures whose day is not requested whole by this pull."""
    pulled_through: date | None
    """``pulled_through`` once this pull is done."""
    beyond_lookback: tuple[date, date] | None = None
    """Days never pulled that the lookback cap kept out of this run."""

    def covers(self, failed: FailedListing) -> bool:
        return self.full if failed.day is None else failed.day in self.days


def plan_run(cursor: Cursor, today: date, *, lookback_days: int, overlap_days: int) -> Plan:
    """The daily pull for business date ``today`` (see the module's rules)."""
    yesterday = today - _ONE_DAY
    if cursor.pulled_through is None:
        return _with_retries(Plan(True, [], [], yesterday), cursor)
    if cursor.pulled_through >= yesterday:
        return _with_retries(Plan(False, [], [], cursor.pulled_through), cursor)
    floor = today - timedelta(days=lookback_days)
    first_new = cursor.pulled_through + _ONE_DAY
    start = max(cursor.pulled_through - timedelta(days=overlap_days), floor)
    gap = (first_new, floor - _ONE_DAY) if first_new < floor else None
    return _with_retries(Plan(False, _days(start, yesterday), [], yesterday, gap), cursor)


def plan_backfill(cursor: Cursor, today: date, start: date, end: date) -> Plan:
    """Days ``start``…``end`` again (never today or later); the cursor's days stay put."""
    days = _days(start, min(end, today - _ONE_DAY))
    return _with_retries(Plan(False, days, [], cursor.pulled_through), cursor, retry=False)


def _with_retries(plan: Plan, cursor: Cursor, *, retry: bool = True) -> Plan:
    waiting = [f for f in cursor.failed if not plan.covers(f)] if retry else []
    return replace(plan, retry=waiting)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def shifted_rest(failed: FailedListing, outcome: Outcome) -> list[int]:
    """Pages of a day to fetch after its failed pages came back with a different total.

    Records joined or left the day's listing since the pages failed, so page
    boundaries moved: the other pages are fetched too. Empty when nothing moved,
    for the full listing (it only grows at its end), or when the total is unknown.
    """
    if failed.day is None or failed.pages is None or outcome.total is None:
        return []
    if outcome.total == failed.total and outcome.per_page == failed.per_page:
        return []
    per_page = outcome.per_page or failed.per_page
    if not per_page:
        return []
    count = math.ceil(outcome.total / per_page)
    done = set(outcome.fetched) | {f.number for f in outcome.failed}
    return [n for n in range(1, count + 1) if n not in done]


def failure(
    outcomes: list[Outcome], since: str, previous: FailedListing | None = None
) -> FailedListing | None:
    """What is left to fetch of one listing after ``outcomes`` (its rounds), or None.

    ``previous``: the remembered failure these outcomes retried (its first date and,
    when no page answered this time, its total are kept).
    """
    failed = [f for o in outcomes for f in o.failed]
    if not failed:
        return None
    first = outcomes[0]
    pages = sorted({f.number for f in failed})
    whole = first.query.pages is None and 1 in pages and not first.fetched
    known = [o for o in outcomes if o.total is not None]
    return FailedListing(
        params=dict(first.query.params),
        pages=None if whole else pages,
        total=known[-1].total if known else previous.total if previous else None,
        per_page=known[-1].per_page if known else previous.per_page if previous else None,
        since=previous.since if previous else since,
        error=failed[0].error,
    )


def _pages(pages: list[int]) -> str:
    return ("page " if len(pages) == 1 else "pages ") + ", ".join(str(p) for p in pages)


__all__ = [
    "DAY_PARAM",
    "Cursor",
    "FailedListing",
    "Plan",
    "failure",
    "plan_backfill",
    "plan_run",
    "shifted_rest",
]
