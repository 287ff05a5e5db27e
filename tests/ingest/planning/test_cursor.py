"""Which days and pages a planning pull requests, and what its cursor remembers."""

from __future__ import annotations

from datetime import date

from civiclake.ingest.planning.cursor import (
    Cursor,
    FailedListing,
    Plan,
    failure,
    plan_backfill,
    plan_run,
    shifted_rest,
)
from civiclake.ingest.rest.client import FailedPage, Outcome, Query

TODAY = date(2026, 3, 10)


def failed(day: str | None, pages: list[int] | None, total: int | None = 100) -> FailedListing:
    params = {"last_updated": day} if day else {}
    return FailedListing(params, pages, total, 10, "2026-03-09", "HTTP 500")


def plan(cursor: Cursor, today: date = TODAY, lookback: int = 60, overlap: int = 2) -> Plan:
    return plan_run(cursor, today, lookback_days=lookback, overlap_days=overlap)


def test_a_first_run_is_a_full_load_up_to_yesterday() -> None:
    p = plan(Cursor())
    assert p.full and p.days == [] and p.pulled_through == date(2026, 3, 9)


def test_later_runs_pull_new_days_plus_the_last_pulled_day_and_the_overlap() -> None:
    p = plan(Cursor(pulled_through=date(2026, 3, 7)))
    assert not p.full
    assert p.days == [date(2026, 3, d) for d in (5, 6, 7, 8, 9)]
    assert p.pulled_through == date(2026, 3, 9)
    assert plan(Cursor(pulled_through=date(2026, 3, 8)), overlap=0).days == [
        date(2026, 3, 8),
        date(2026, 3, 9),
    ]


def test_a_run_with_no_new_day_requests_only_what_failed() -> None:
    waiting = failed("2026-03-09", [3])
    p = plan(Cursor(pulled_through=date(2026, 3, 9), failed=[waiting]))
    assert p.days == [] and p.retry == [waiting] and p.pulled_through == date(2026, 3, 9)


def test_lookback_caps_how_far_back_a_run_reaches_and_names_the_gap() -> None:
    p = plan(Cursor(pulled_through=date(2026, 1, 1)), lookback=10)
    assert p.days[0] == date(2026, 2, 28) and p.days[-1] == date(2026, 3, 9)
    assert p.beyond_lookback == (date(2026, 1, 2), date(2026, 2, 27))
    assert plan(Cursor(pulled_through=date(2026, 3, 1)), lookback=10).beyond_lookback is None


def test_failures_of_days_pulled_whole_again_are_not_requested_twice() -> None:
    covered, older = failed("2026-03-07", [3]), failed("2026-02-01", [1, 2])
    p = plan(Cursor(pulled_through=date(2026, 3, 8), failed=[covered, older]))
    assert date(2026, 3, 7) in p.days
    assert p.retry == [older]


def test_backfill_pulls_its_days_and_leaves_the_cursor_days_alone() -> None:
    cursor = Cursor(pulled_through=date(2026, 3, 9), failed=[failed("2026-03-02", [2])])
    p = plan_backfill(cursor, TODAY, date(2026, 3, 1), date(2026, 3, 20))
    assert p.days[0] == date(2026, 3, 1) and p.days[-1] == date(2026, 3, 9)  # never today
    assert p.retry == [] and p.pulled_through == date(2026, 3, 9)
    assert p.covers(cursor.failed[0])


def test_complete_through_stops_before_the_oldest_missing_page() -> None:
    assert Cursor(pulled_through=date(2026, 3, 9)).complete_through == date(2026, 3, 9)
    holes = [failed("2026-03-07", [3]), failed("2026-03-05", None)]
    assert Cursor(date(2026, 3, 9), holes).complete_through == date(2026, 3, 4)
    assert Cursor(date(2026, 3, 9), [failed(None, [4])]).complete_through is None


def test_the_cursor_round_trips_through_json() -> None:
    cursor = Cursor(date(2026, 3, 9), [failed("2026-03-07", [3, 4]), failed(None, None)], 12)
    assert Cursor.loads(cursor.dumps()) == cursor
    assert cursor.to_json()["complete_through"] is None
    assert Cursor.loads(None) == Cursor()


def outcome(query: Query, total: int | None, fetched: list[int], bad: list[int]) -> Outcome:
    o = Outcome(query, total=total, per_page=10 if total is not None else None)
    o.fetched = fetched
    o.failed = [FailedPage(query, n, "u", "HTTP 500", 500, 5) for n in bad]
    return o


def test_failed_pages_are_remembered_with_their_listing() -> None:
    q = Query.of("fees", {"last_updated": "2026-03-08"})
    f = failure([outcome(q, 45, [1, 2, 4], [3, 5])], "2026-03-10")
    assert f == FailedListing(
        {"last_updated": "2026-03-08"}, [3, 5], 45, 10, "2026-03-10", "HTTP 500"
    )
    assert failure([outcome(q, 45, [1, 2, 3, 4, 5], [])], "2026-03-10") is None


def test_a_failed_first_page_means_the_whole_listing() -> None:
    q = Query.of("fees", {"last_updated": "2026-03-08"})
    f = failure([outcome(q, None, [], [1])], "2026-03-10")
    assert f is not None and f.pages is None and f.total is None


def test_a_retried_failure_keeps_its_first_date_and_last_known_total() -> None:
    before = failed("2026-03-08", [3], total=45)
    q = before.query("fees")
    again = failure([outcome(q, None, [], [3])], "2026-03-11", previous=before)
    assert again is not None
    assert (again.pages, again.total, again.since) == ([3], 45, "2026-03-09")


def test_a_changed_day_listing_is_fetched_whole_but_the_full_listing_is_not() -> None:
    day = failed("2026-03-08", [3], total=45)
    same = outcome(day.query("fees"), 45, [3], [])
    assert shifted_rest(day, same) == []
    moved = outcome(day.query("fees"), 47, [3], [])
    assert shifted_rest(day, moved) == [1, 2, 4, 5]
    full = failed(None, [3], total=45)
    assert shifted_rest(full, outcome(full.query("fees"), 60, [3], [])) == []
