"""Errors of the paged-JSON REST connector.

::

    IngestError
    └── HttpError                 the API answered with a status that retrying cannot fix
        ├── AuthenticationError   401/403: the keys are wrong or lack access
        └── RequestRejectedError  400/404 and other 4xx: the request itself is wrong
    SourceUnavailableError (a Transient)
    └── PagesFailedError          some pages still failed after their retries

A page that fails with a *transient* status (5xx, 429, a timeout, a dropped
connection) is not raised: the client returns it as a
:class:`~civiclake.ingest.rest.client.FailedPage` so the caller can remember it.
"""

from __future__ import annotations

from civiclake.ingest.exceptions import IngestError, SourceUnavailableError


class HttpError(IngestError):
    """The API refused a request in a way that retrying cannot fix."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class AuthenticationError(HttpError):
    """401 or 403: the credentials were refused (the message never holds them)."""


class RequestRejectedError(HttpError):
    """400, 404 or another 4xx: wrong resource, wrong parameter."""


class PagesFailedError(SourceUnavailableError):
    """Pages still failed after their retries; what arrived was kept and applied.

    Transient by type: the runner retries the step, and the retry fetches only
    the pages that failed (they are remembered in the source's cursor).
    """


__all__ = ["AuthenticationError", "HttpError", "PagesFailedError", "RequestRejectedError"]
