"""A reusable connector for REST APIs that answer paged JSON.

``client.py`` fetches listings concurrently with retries and hands back each
page's body unmodified; ``landing.py`` keeps the bodies and the batches they
were applied in; ``config.py`` holds the settings every REST source shares.
A connector such as ``planning_api`` adds its authentication, its cursor and
how its queries are planned.

The client (and httpx with it) is imported on first use, so loading a
project's source files stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from civiclake.ingest.rest.config import Paging, RestSourceConfig
from civiclake.ingest.rest.exceptions import (
    AuthenticationError,
    HttpError,
    PagesFailedError,
    RequestRejectedError,
)
from civiclake.ingest.rest.retry import RetryPolicy

if TYPE_CHECKING:
    from civiclake.ingest.rest.client import FailedPage, Outcome, Page, PagedJsonClient, Query

_CLIENT = ("FailedPage", "Outcome", "Page", "PagedJsonClient", "Query")


def __getattr__(name: str) -> Any:
    if name in _CLIENT:
        from civiclake.ingest.rest import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuthenticationError",
    "FailedPage",
    "HttpError",
    "Outcome",
    "Page",
    "PagedJsonClient",
    "PagesFailedError",
    "Paging",
    "Query",
    "RequestRejectedError",
    "RestSourceConfig",
    "RetryPolicy",
]
