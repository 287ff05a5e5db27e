"""The SQL HTTP API: ``POST /api/sql`` with a bearer token, answered under the access policy.

Endpoints::

    POST /api/sql       {"sql": "SELECT …", "max_rows": 100}  →  columns, rows, truncated
    GET  /api/datasets  what the caller may read, and which columns are masked
    GET  /api/health    no token needed; for load balancers

Query endpoints are plain ``def``: FastAPI runs them on its thread pool, and
DuckDB releases the GIL while it works, so concurrent callers overlap.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from civiclake.exceptions import MissingDependencyError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from civiclake.project import Project
    from civiclake.serve.service import QueryService


class SqlRequest(BaseModel):
    """The body of ``POST /api/sql``."""

    sql: str = Field(min_length=1, description="One query over <department>_<zone>.<dataset>.")
    max_rows: int | None = Field(default=None, ge=1, description="Fewer rows than the cap.")


def curl_example(
    host: str,
    port: int,
    token: str = "$CIVICLAKE_TOKEN",
    sql: str = "SELECT * FROM unrestricted_trusted.wards LIMIT 5",
) -> str:
    """A curl line asking the API a question (printed by `serve` and the demo)."""
    return (
        f'curl -s -H "Authorization: Bearer {token}" -H "Content-Type: application/json" '
        f'-d \'{{"sql": "{sql}"}}\' http://{host}:{port}/api/sql'
    )


def create_app(project: Project, service: QueryService | None = None) -> FastAPI:
    try:
        from fastapi import FastAPI
    except ImportError:
        raise MissingDependencyError("fastapi", "serve") from None

    from civiclake.serve import _routes
    from civiclake.serve.errors import install_handlers
    from civiclake.serve.service import QueryService

    svc = service or QueryService(project)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        svc.close()

    app = FastAPI(
        lifespan=lifespan,
        title="civiclake SQL API",
        description="Read-only SQL over the datasets your grants allow (DuckDB dialect).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.service = svc
    scrub = (project.layout.root,) if project.layout.is_local else ()
    install_handlers(app, tuple(str(s) for s in scrub))
    app.include_router(_routes.router(svc))
    return app


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _dumps(payload: dict[str, Any]) -> bytes:
    """JSON with dates as ISO text, decimals as text (exact), NaN/inf as null."""
    text = json.dumps(payload, default=_default, allow_nan=True, ensure_ascii=False)
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(_finite(payload), default=_default, ensure_ascii=False)
    return text.encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
