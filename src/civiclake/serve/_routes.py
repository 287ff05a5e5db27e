"""The API's endpoints. Imported only by :func:`civiclake.serve.create_app` (FastAPI loaded).

This module has real (not postponed) annotations on purpose: FastAPI reads the
endpoints' signatures at run time, and names imported inside a function cannot
be resolved from strings (that is what made ``GET /api/openapi.json`` fail).

``POST /api/sql`` checks the token *before* it reads the body: an unauthenticated
caller costs a header check, not a 10 MB read, a parse and an audit of their text.
The body is then read up to a bound derived from ``serve.max_sql_chars``.
"""

import json
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from civiclake.serve.app import SqlRequest, _dumps
from civiclake.serve.errors import ApiError
from civiclake.serve.service import QueryService

BODY_OVERHEAD_BYTES = 4096
"""Room for the JSON around the SQL (``{"sql": …, "max_rows": …}``) and escapes."""


def router(svc: QueryService) -> APIRouter:
    api = APIRouter()

    @api.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/api/sql", response_class=Response, response_model=None)
    async def sql(request: Request) -> Response:
        try:
            principal = await run_in_threadpool(
                svc.authenticate, request.headers.get("authorization")
            )
        except ApiError as exc:  # audited without reading the body (never the token)
            await run_in_threadpool(svc.audit_refused, "(not read: unauthenticated)", exc)
            raise
        body = await _read_body(request, svc.settings.max_sql_chars * 4 + BODY_OVERHEAD_BYTES)
        result = await run_in_threadpool(svc.run, principal, body.sql, body.max_rows)
        payload = {
            "columns": result.columns,
            "rows": result.rows,
            "row_count": len(result.rows),
            "truncated": result.truncated,
            "elapsed_ms": result.elapsed_ms,
        }
        return Response(_dumps(payload), media_type="application/json")

    @api.get("/api/datasets")
    def datasets(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        principal = svc.authenticate(authorization)
        return {"user": principal.name, "datasets": svc.readable(principal)}

    return api


async def _read_body(request: Request, limit: int) -> SqlRequest:
    """The JSON body, read no further than ``limit`` bytes, as a :class:`SqlRequest`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError("too_large", f"the request body is over {limit:,} bytes; send less SQL")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError("too_large", f"the request body is over {limit:,} bytes; send less SQL")
        chunks.append(chunk)
    try:
        return SqlRequest.model_validate(json.loads(b"".join(chunks) or b"null"))
    except (ValueError, ValidationError) as exc:
        problems = (
            "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                for e in exc.errors()
            )
            if isinstance(exc, ValidationError)
            else "the body is not JSON"
        )
        raise ApiError(
            "bad_request", f'send JSON like {{"sql": "SELECT …"}} ({problems})'
        ) from None
