"""Functions a query may call: DuckDB's own scalar, aggregate and window functions.

A function is allowed when DuckDB lists it as ``scalar``, ``aggregate``,
``window`` or ``macro`` on a fresh connection and it is not one of the few that
describe the server instead of the data (``current_setting``, ``getenv``, the
catalog's ``duckdb_*``…). Functions registered on a session — the PII masking
functions — are not on a fresh connection, so a caller can never call one
directly to build a dictionary of masked values.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from civiclake.sql.exceptions import SqlRejected

if TYPE_CHECKING:
    from sqlglot import exp

DENIED_FUNCTIONS = frozenset(
    {
        "current_setting",
        "getenv",
        "current_query",
        "current_query_id",
        "getvariable",
        "make_timestamp_ns_from_setting",
    }
)
"""Scalar functions that tell the caller about the server rather than the data."""

DENIED_PREFIXES = ("duckdb_", "pragma_", "json_execute", "__")
"""Catalog functions and anything registered with a reserved name, whatever DuckDB lists."""


def check_functions(query: exp.Expression | exp.Query) -> None:
    """Refuse any function call in ``query`` that is not plain data arithmetic.

    Table functions are the relations' business (:mod:`civiclake.sql.relations`);
    here every call *outside* a FROM position is checked.
    """
    from sqlglot import exp

    in_from = {id(t.this) for t in query.find_all(exp.Table) if isinstance(t.this, exp.Func)}
    for func in query.find_all(exp.Func):
        if id(func) in in_from:
            continue
        if isinstance(func, exp.Anonymous):
            name = str(func.name).lower()
            if not allowed(name):
                raise SqlRejected(
                    "forbidden_function", f"the function {name}() is not allowed here"
                )
        else:
            name = func.sql_name().lower()
            if type(func).__name__.startswith("Read") or denied(name):
                raise SqlRejected(
                    "forbidden_function", f"the function {name}() is not allowed here"
                )


def denied(name: str) -> bool:
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def allowed(name: str) -> bool:
    """``name`` is a DuckDB scalar/aggregate/window function a caller may use."""
    return not denied(name) and name in duckdb_functions()


@lru_cache(maxsize=1)
def duckdb_functions() -> frozenset[str]:
    """DuckDB's scalar, aggregate, window and macro functions (no table functions)."""
    from civiclake.storage.connections import DEFAULT

    con = DEFAULT.open()
    try:
        rows = con.sql(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'aggregate', 'window', 'macro')"
        ).fetchall()
    finally:
        con.close()
    return frozenset(r[0] for r in rows)
