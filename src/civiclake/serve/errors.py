"""The SQL API's one error shape, built here and nowhere else.

Every refusal or failure — a bad token, SQL the guard refuses, a dataset the
caller may not read, a timeout, a bug — reaches the client as::

    HTTP 4xx/5xx
    {"error": {"status": 403, "code": "forbidden_table", "message": "hana has no role in …"}}

``code`` is stable (clients and tests switch on it); ``message`` is for people
and says what to do. Messages pass through the secret redactor, and the storage
root is replaced by ``<storage>`` and any other absolute path by ``<path>``, so
DuckDB errors do not reveal the server's file layout. An unexpected exception
becomes ``internal`` with no detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    "unauthorized": 401,
    "forbidden_table": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "timeout": 408,
    "too_large": 413,
    "bad_request": 422,
    "internal": 500,
}
"""Codes that are not 400; every other guard or query code is 400 (the SQL is at fault)."""


_ABSOLUTE_PATH = re.compile(r"(?<![\w.<>])/(?:[\w.\-*]+/)*[\w.\-*]+")
"""Any absolute path left after the storage root is scrubbed (the server's layout is private)."""


@dataclass
class ApiError(Exception):
    code: str
    message: str
    headers: dict[str, str] | None = None

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, 400)


def error_body(code: str, message: str, *, scrub: tuple[str, ...] = ()) -> dict[str, Any]:
    from civiclake.config.secrets import REDACTOR

    text = REDACTOR(message)
    for path in scrub:
        if path:
            text = text.replace(path, "<storage>")
    text = _ABSOLUTE_PATH.sub("<path>", text)
    return {"error": {"status": STATUS_BY_CODE.get(code, 400), "code": code, "message": text}}


def install_handlers(app: Any, scrub: tuple[str, ...]) -> None:
    """Route every exception the app can raise to :func:`error_body`."""
    import logging

    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    log = logging.getLogger("civiclake.serve")

    def respond(code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        body = error_body(code, message, scrub=scrub)
        return JSONResponse(body, status_code=body["error"]["status"], headers=headers)

    @app.exception_handler(ApiError)
    async def _api(_request: Any, exc: ApiError) -> JSONResponse:
        return respond(exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Any, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return respond("bad_request", f'send JSON like {{"sql": "SELECT …"}} ({problems})')

    @app.exception_handler(HTTPException)
    async def _http(_request: Any, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = {
            "not_found": "no such endpoint; POST /api/sql, GET /api/datasets, GET /api/health",
            "method_not_allowed": "wrong HTTP method; queries are POST /api/sql",
        }.get(code, str(exc.detail))
        return respond(code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Any, exc: Exception) -> JSONResponse:
        from civiclake.config.secrets import REDACTOR

        log.error("unexpected error in the SQL API: %s", REDACTOR(repr(exc)))
        return respond("internal", "the server failed; the error is in its log")
