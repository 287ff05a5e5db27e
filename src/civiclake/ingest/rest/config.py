"""Settings every paged-JSON REST source shares (connectors subclass :class:`RestSourceConfig`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from civiclake.config.models import Model
from civiclake.ingest.config import SourceConfig
from civiclake.ingest.rest.retry import RetryPolicy


class Paging(Model):
    """How the API pages: a page-number parameter and headers telling the total."""

    page_param: str = "page"
    """Query parameter holding the 1-based page number."""
    total_header: str = "X-Number-Of-Results"
    """Response header with the number of results of the whole listing."""
    per_page_header: str = "X-Results-Per-Page"
    """Response header with the number of results on one page."""


class RestSourceConfig(SourceConfig):
    """A REST API answering JSON pages under ``<url>/<resource>``."""

    url: str
    """Base URL, e.g. ``https://planning.example.gov.uk/rest/v1``."""
    concurrency: int = Field(default=4, ge=1, le=64)
    """Requests in flight at once."""
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=0, le=20)
    """Retries of one page after a 5xx, 429, timeout or dropped connection."""
    retry_backoff_seconds: float = Field(default=1.0, ge=0)
    """First wait between retries; doubles each time (a ``Retry-After`` header wins)."""
    max_retry_after_seconds: float = Field(default=300, ge=0)
    paging: Paging = Paging()
    batch_pages: int = Field(default=200, ge=1)
    """Pages applied together at most: a large pull (a first full load) is applied in
    several batches so memory stays bounded."""

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the API's base URL starts with https:// (or http://)")
        return value.rstrip("/")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            backoff_seconds=self.retry_backoff_seconds,
            max_retry_after_seconds=self.max_retry_after_seconds,
        )


__all__ = ["Paging", "RestSourceConfig"]
