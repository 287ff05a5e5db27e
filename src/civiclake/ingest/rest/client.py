"""Fetch paged JSON listings concurrently, with retries, keeping each body as sent.

A :class:`Query` is one listing, ``GET <base>/<resource>?<params>&page=N``.
For a query without explicit pages, page 1 is fetched first; its
``X-Number-Of-Results`` and ``X-Results-Per-Page`` headers say how many pages
follow, and those are fetched concurrently. Every request of every query
shares one bound (``concurrency``), and results stream out as they arrive
(:meth:`PagedJsonClient.pages`), so memory holds at most a few pages whatever
the listing's size. HTTP 202 means the listing is empty.

Per page, transient failures (5xx, 429, 408, timeouts, dropped connections)
are retried with backoff (see :mod:`.retry`). A page still failing after its
retries comes out as a :class:`FailedPage`, not an exception, so the caller
can fetch what else it can and remember the rest. A refusal that retrying
cannot fix raises at once: 401/403 :class:`AuthenticationError`, 400/404 and
other 4xx :class:`RequestRejectedError`. A 401 is tried once more with fresh
headers first, because a signature built in one minute may reach a server
that checks it in the next.

Headers are built by a factory per request (signatures that change every
minute) and never appear in URLs, results or messages.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx

from civiclake.config.secrets import REDACTOR
from civiclake.ingest.rest.config import Paging
from civiclake.ingest.rest.exceptions import AuthenticationError, RequestRejectedError
from civiclake.ingest.rest.retry import (
    RETRY_AFTER_STATUSES,
    RetryPolicy,
    is_transient,
    retry_after_seconds,
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]
_SNIPPET = 200


@dataclass(frozen=True)
class Query:
    """One listing of one resource; ``pages`` None means every page."""

    resource: str
    params: tuple[tuple[str, str], ...] = ()
    pages: tuple[int, ...] | None = None

    @classmethod
    def of(
        cls,
        resource: str,
        params: Mapping[str, str] | None = None,
        pages: Iterable[int] | None = None,
    ) -> Query:
        return cls(
            resource,
            tuple(sorted((params or {}).items())),
            None if pages is None else tuple(sorted(set(pages))),
        )

    @property
    def label(self) -> str:
        """``applications?last_updated=2026-03-08`` for messages."""
        return f"{self.resource}?{urlencode(self.params)}" if self.params else self.resource


@dataclass(frozen=True)
class Page:
    """One page as received: the body is the bytes the server sent."""

    query: Query
    number: int
    url: str
    """The requested URL (no credentials: those travel in headers)."""
    status: int
    body: bytes
    total: int | None
    """Results in the whole listing (the total header), when the server said."""
    per_page: int | None
    attempts: int

    @property
    def empty(self) -> bool:
        """HTTP 202: the listing has no results."""
        return self.status == 202

    @property
    def page_count(self) -> int:
        if self.empty or self.total == 0:
            return 0
        if self.total is None or not self.per_page:
            return 1
        return math.ceil(self.total / self.per_page)


@dataclass(frozen=True)
class FailedPage:
    """A page that still failed after its retries."""

    query: Query
    number: int
    url: str
    error: str
    status: int | None
    attempts: int


@dataclass
class Outcome:
    """What happened to one query: its size, the pages fetched and the pages that failed."""

    query: Query
    total: int | None = None
    per_page: int | None = None
    fetched: list[int] = field(default_factory=list)
    failed: list[FailedPage] = field(default_factory=list)

    def add(self, item: Page | FailedPage) -> None:
        if isinstance(item, FailedPage):
            self.failed.append(item)
            return
        self.fetched.append(item.number)
        if item.total is not None:
            self.total = 0 if item.empty else item.total
        elif item.empty:
            self.total = 0
        if item.per_page:
            self.per_page = item.per_page

    @property
    def complete(self) -> bool:
        return not self.failed


class PagedJsonClient:
    """An HTTP client for one API's paged JSON listings."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Callable[[], Mapping[str, str]] = dict,
        paging: Paging | None = None,
        concurrency: int = 4,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        auth_hint: str = "check the credentials in the source's configuration",
        where: str = "the source's configuration",
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._headers = headers
        self.paging = paging or Paging()
        self.concurrency = concurrency
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetryPolicy()
        self.auth_hint = auth_hint
        self.where = where
        self._transport = transport
        self._sleep = sleep
        self._clock = clock

    # -- the synchronous door ---------------------------------------------------
    def fetch(
        self, queries: Iterable[Query], on_page: Callable[[Page], None] = lambda page: None
    ) -> dict[Query, Outcome]:
        """Fetch every page of ``queries``, handing each good page to ``on_page`` as it arrives.

        Runs its own event loop (call it from a thread without one, as the runner does).
        """
        queries = list(queries)

        async def main() -> dict[Query, Outcome]:
            outcomes = {q: Outcome(q) for q in queries}
            async with aclosing(self.pages(queries)) as items:
                async for item in items:
                    outcomes[item.query].add(item)
                    if isinstance(item, Page):
                        on_page(item)
            return outcomes

        return asyncio.run(main())

    # -- the asynchronous core --------------------------------------------------
    async def pages(self, queries: Iterable[Query]) -> AsyncGenerator[Page | FailedPage, None]:
        """Pages (and failed pages) in the order they arrive."""
        semaphore = asyncio.Semaphore(self.concurrency)
        results: asyncio.Queue[Page | FailedPage | Exception] = asyncio.Queue(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        outstanding = 0

        async with httpx.AsyncClient(
            base_url=self.base_url,
            transport=self._transport,
            timeout=httpx.Timeout(self.timeout_seconds),
            limits=httpx.Limits(max_connections=self.concurrency),
            follow_redirects=True,
        ) as client:

            def spawn(query: Query, number: int) -> None:
                nonlocal outstanding
                outstanding += 1
                task = asyncio.create_task(one(query, number))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            async def one(query: Query, number: int) -> None:
                item: Page | FailedPage | Exception
                # The permit is held until the result is queued: at most
                # ``concurrency`` bodies wait for the consumer.
                async with semaphore:
                    try:
                        item = await self._get(client, query, number)
                    except Exception as exc:
                        item = exc
                    if isinstance(item, Page) and query.pages is None and number == 1:
                        for later in range(2, item.page_count + 1):
                            spawn(query, later)
                    await results.put(item)

            for query in queries:
                for number in query.pages if query.pages is not None else (1,):
                    spawn(query, number)
            try:
                while outstanding:
                    got = await results.get()
                    outstanding -= 1
                    if isinstance(got, Exception):
                        raise got
                    yield got
            finally:
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _get(self, client: httpx.AsyncClient, query: Query, number: int) -> Page | FailedPage:
        params = httpx.QueryParams([*query.params, (self.paging.page_param, str(number))])
        url = str(client.build_request("GET", query.resource, params=params).url)
        delays = self.retry.delays()
        attempts = 0
        resigned = False
        while True:
            attempts += 1
            headers = dict(self._headers())
            retry_after: float | None = None
            status: int | None = None
            try:
                response = await client.get(query.resource, params=params, headers=headers)
            except httpx.TimeoutException:
                error = f"timed out after {self.timeout_seconds:g}s"
            except httpx.TransportError as exc:
                error = _scrub(f"connection failed: {type(exc).__name__}: {exc}", headers)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._page(query, number, url, response, attempts)
                if status == 401 and not resigned:
                    resigned = True  # the signature may have crossed a minute boundary
                    continue
                if not is_transient(status):
                    raise self._refused(url, response, headers)
                error = f"HTTP {status}"
                if status in RETRY_AFTER_STATUSES:
                    retry_after = retry_after_seconds(
                        response.headers.get("Retry-After"), self._clock()
                    )
            retry = attempts - (2 if resigned else 1)
            if retry >= len(delays):
                return FailedPage(query, number, url, error, status, attempts)
            await self._sleep(self.retry.wait(delays[retry], retry_after))

    def _page(
        self, query: Query, number: int, url: str, response: httpx.Response, attempts: int
    ) -> Page:
        return Page(
            query=query,
            number=number,
            url=url,
            status=response.status_code,
            body=response.content,
            total=_int_header(response, self.paging.total_header),
            per_page=_int_header(response, self.paging.per_page_header),
            attempts=attempts,
        )

    def _refused(self, url: str, response: httpx.Response, headers: Mapping[str, str]) -> Exception:
        status = response.status_code
        if status == 401:
            return AuthenticationError(
                f"authentication failed for {url} (HTTP 401): {self.auth_hint}",
                url=url,
                status=status,
            )
        if status == 403:
            return AuthenticationError(
                f"access refused for {url} (HTTP 403): the keys were not allowed to read this "
                f"resource; {self.auth_hint}",
                url=url,
                status=status,
            )
        if status == 404:
            return RequestRejectedError(
                f"{url} was not found (HTTP 404): check `url` and the resource names in "
                f"{self.where}",
                url=url,
                status=status,
            )
        said = _scrub(response.text[:_SNIPPET].strip(), headers)
        return RequestRejectedError(
            f"the API refused {url} (HTTP {status}{': ' + said if said else ''}); check the "
            f"settings in {self.where}",
            url=url,
            status=status,
        )


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _scrub(text: str, headers: Mapping[str, str]) -> str:
    """Remove the request's header values (keys, signatures) and known secrets from text."""
    for value in headers.values():
        if len(value) >= 3:
            text = text.replace(value, "***")
    return REDACTOR(text)


__all__ = ["FailedPage", "Outcome", "Page", "PagedJsonClient", "Query"]
