"""The paged-JSON client: paging, concurrency, retries, Retry-After, failed pages, refusals.

An in-memory ``httpx.MockTransport`` plays the API and a recording fake
sleeps, so retry timing is checked without waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from civiclake.ingest.rest import (
    AuthenticationError,
    FailedPage,
    Page,
    PagedJsonClient,
    Query,
    RequestRejectedError,
    RetryPolicy,
)

BASE = "http://api.test/rest/v1"
NOW = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    """An injected sleep: records the waits, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def listing(total: int, per_page: int) -> Handler:
    """A well-behaved API: ``total`` records, ``per_page`` a page, body names the page."""

    def handle(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        if total == 0:
            return httpx.Response(202)
        first = (page - 1) * per_page + 1
        rows = [{"id": str(i)} for i in range(first, min(first + per_page, total + 1))]
        return httpx.Response(
            200,
            content=json.dumps(rows).encode(),
            headers={"X-Number-Of-Results": str(total), "X-Results-Per-Page": str(per_page)},
        )

    return handle


def client(handler: Handler, sleeps: Sleeps | None = None, **kwargs: object) -> PagedJsonClient:
    kwargs.setdefault("retry", RetryPolicy(retries=3, backoff_seconds=1.0))
    return PagedJsonClient(
        BASE,
        transport=httpx.MockTransport(handler),
        sleep=sleeps or Sleeps(),
        clock=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def collect(c: PagedJsonClient, *queries: Query) -> tuple[list[Page], list[FailedPage]]:
    pages: list[Page] = []
    outcomes = c.fetch(queries, pages.append)
    failed = [f for o in outcomes.values() for f in o.failed]
    return sorted(pages, key=lambda p: p.number), failed


def test_page_one_tells_how_many_pages_follow_and_bodies_arrive_unmodified() -> None:
    pages, failed = collect(client(listing(45, 10)), Query.of("applications"))
    assert [p.number for p in pages] == [1, 2, 3, 4, 5]
    assert failed == []
    assert json.loads(pages[4].body) == [{"id": str(i)} for i in range(41, 46)]
    assert pages[0].url == f"{BASE}/applications?page=1"
    assert all(p.status == 200 and p.total == 45 and p.per_page == 10 for p in pages)


def test_query_parameters_are_sent_and_shown_in_the_url() -> None:
    c = client(listing(3, 10))
    outcomes = c.fetch([Query.of("fees", {"last_updated": "2026-03-08"})])
    (outcome,) = outcomes.values()
    assert outcome.total == 3 and outcome.fetched == [1] and outcome.complete
    pages, _ = collect(c, Query.of("fees", {"last_updated": "2026-03-08"}))
    assert pages[0].url == f"{BASE}/fees?last_updated=2026-03-08&page=1"


def test_http_202_means_no_results_and_no_further_pages() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(202)

    c = client(handle)
    outcomes = c.fetch([Query.of("wards", {"last_updated": "2026-03-08"})])
    (outcome,) = outcomes.values()
    assert outcome.total == 0 and outcome.fetched == [1]
    assert len(seen) == 1


def test_explicit_pages_fetch_exactly_those_pages() -> None:
    seen: list[int] = []
    inner = listing(100, 10)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(int(request.url.params["page"]))
        return inner(request)

    pages, _ = collect(client(handle), Query.of("applications", pages=[7, 3]))
    assert sorted(seen) == [3, 7]
    assert [p.number for p in pages] == [3, 7]


def test_transient_failures_are_retried_with_growing_backoff() -> None:
    calls: Counter[int] = Counter()
    inner = listing(30, 10)

    def handle(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        calls[page] += 1
        if page == 2 and calls[page] <= 3:
            return httpx.Response((500, 502, 504)[calls[page] - 1])
        return inner(request)

    sleeps = Sleeps()
    pages, failed = collect(client(handle, sleeps), Query.of("applications"))
    assert [p.number for p in pages] == [1, 2, 3] and failed == []
    assert calls[2] == 4 and pages[1].attempts == 4
    assert len(sleeps.waits) == 3
    for wait, base in zip(sleeps.waits, (1.0, 2.0, 4.0), strict=True):
        assert base <= wait <= base * 1.1  # exponential, with up to 10% jitter


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("x")],
)
def test_timeouts_and_connection_errors_are_retried(error: Exception) -> None:
    calls = itertools.count()
    inner = listing(5, 10)

    def handle(request: httpx.Request) -> httpx.Response:
        if next(calls) < 2:
            raise error
        return inner(request)

    sleeps = Sleeps()
    pages, failed = collect(client(handle, sleeps), Query.of("wards"))
    assert [p.attempts for p in pages] == [3] and failed == []
    assert len(sleeps.waits) == 2


def test_a_page_failing_after_its_retries_is_returned_as_failed_not_raised() -> None:
    inner = listing(50, 10)
    calls: Counter[int] = Counter()

    def handle(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        calls[page] += 1
        if page in (2, 4):
            return httpx.Response(503)
        return inner(request)

    pages, failed = collect(
        client(handle), Query.of("applications", {"last_updated": "2026-03-01"})
    )
    assert [p.number for p in pages] == [1, 3, 5]
    assert sorted((f.number, f.status, f.attempts) for f in failed) == [(2, 503, 4), (4, 503, 4)]
    assert calls[2] == 4  # one try + 3 retries
    assert failed[0].error == "HTTP 503"
    assert "last_updated=2026-03-01" in failed[0].url


def test_a_failing_first_page_fails_the_whole_listing() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502)

    c = client(handle, retry=RetryPolicy(retries=1))
    outcomes = c.fetch([Query.of("applications")])
    (outcome,) = outcomes.values()
    assert outcome.fetched == [] and [f.number for f in outcome.failed] == [1]
    assert outcome.total is None and not outcome.complete


def test_retry_after_in_seconds_is_honoured_on_429() -> None:
    calls = itertools.count()
    inner = listing(5, 10)

    def handle(request: httpx.Request) -> httpx.Response:
        if next(calls) == 0:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return inner(request)

    sleeps = Sleeps()
    pages, _ = collect(client(handle, sleeps), Query.of("wards"))
    assert sleeps.waits == [7.0] and pages[0].attempts == 2


def test_retry_after_as_an_http_date_is_honoured_on_503_using_the_clock() -> None:
    calls = itertools.count()
    inner = listing(5, 10)
    when = format_datetime(NOW + timedelta(seconds=42), usegmt=True)

    def handle(request: httpx.Request) -> httpx.Response:
        if next(calls) == 0:
            return httpx.Response(503, headers={"Retry-After": when})
        return inner(request)

    sleeps = Sleeps()
    collect(client(handle, sleeps), Query.of("wards"))
    assert sleeps.waits == [42.0]


def test_retry_after_is_capped_and_ignored_on_other_statuses() -> None:
    calls = itertools.count()
    inner = listing(5, 10)

    def handle(request: httpx.Request) -> httpx.Response:
        n = next(calls)
        if n == 0:
            return httpx.Response(429, headers={"Retry-After": "86400"})
        if n == 1:
            return httpx.Response(500, headers={"Retry-After": "99"})
        return inner(request)

    sleeps = Sleeps()
    policy = RetryPolicy(retries=3, backoff_seconds=0.5, max_retry_after_seconds=30)
    collect(client(handle, sleeps, retry=policy), Query.of("wards"))
    assert sleeps.waits[0] == 30.0
    assert 1.0 <= sleeps.waits[1] <= 1.1  # the second retry's backoff, not 99


def test_concurrency_is_bounded_and_used() -> None:
    in_flight = 0
    peak = 0
    inner = listing(200, 10)

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return inner(request)

    c = PagedJsonClient(BASE, transport=httpx.MockTransport(handle), concurrency=3)
    queries = [Query.of("applications", {"last_updated": f"2026-03-0{d}"}) for d in range(1, 4)]
    outcomes = c.fetch(queries)
    assert all(o.fetched and sorted(o.fetched) == list(range(1, 21)) for o in outcomes.values())
    assert peak == 3


def test_headers_are_built_per_request() -> None:
    seen: list[str] = []
    inner = listing(30, 10)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["X-Hash"])
        return inner(request)

    counter = itertools.count()
    c = client(handle, headers=lambda: {"X-Public": "pub", "X-Hash": f"h{next(counter)}"})
    c.fetch([Query.of("applications")])
    assert sorted(seen) == ["h0", "h1", "h2"]


def test_a_401_is_signed_again_once_then_raises_without_the_credentials() -> None:
    calls = itertools.count()

    def handle(request: httpx.Request) -> httpx.Response:
        next(calls)
        return httpx.Response(401, text=f"bad hash {request.headers['X-Hash']}")

    counter = itertools.count()
    c = client(
        handle,
        headers=lambda: {"X-Public": "public-key-1", "X-Hash": f"secret-hash-{next(counter)}"},
        auth_hint="check the public/private keys in sources/planning/api.yaml (PUB, PRIV)",
    )
    with pytest.raises(AuthenticationError) as err:
        c.fetch([Query.of("applications")])
    message = str(err.value)
    assert message.startswith(f"authentication failed for {BASE}/applications?page=1")
    assert "sources/planning/api.yaml (PUB, PRIV)" in message
    assert "secret-hash" not in message and "public-key-1" not in message
    assert next(calls) == 2  # the first try and one fresh signature, no backoff retries


def test_a_401_at_a_minute_boundary_succeeds_with_a_fresh_signature() -> None:
    calls = itertools.count()
    inner = listing(5, 10)

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401) if next(calls) == 0 else inner(request)

    sleeps = Sleeps()
    pages, _ = collect(client(handle, sleeps), Query.of("wards"))
    assert pages[0].attempts == 2 and sleeps.waits == []


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (403, AuthenticationError, "access refused"),
        (404, RequestRejectedError, "was not found (HTTP 404)"),
        (400, RequestRejectedError, "the API refused"),
    ],
)
def test_refusals_are_not_retried(status: int, error: type[Exception], words: str) -> None:
    calls = itertools.count()

    def handle(request: httpx.Request) -> httpx.Response:
        next(calls)
        return httpx.Response(status, text=f"no: {request.headers['X-Hash']}")

    c = client(handle, headers=lambda: {"X-Hash": "the-signature"}, where="sources/p/api.yaml")
    with pytest.raises(error) as err:
        c.fetch([Query.of("nope")])
    assert words in str(err.value)
    assert "the-signature" not in str(err.value)
    assert next(calls) == 1


def test_a_refusal_stops_the_other_requests() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/bad"):
            return httpx.Response(404)
        return listing(500, 10)(request)

    c = client(handle)
    with pytest.raises(RequestRejectedError):
        c.fetch([Query.of("good"), Query.of("bad")])
