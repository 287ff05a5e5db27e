"""The SQL guard: one read-only query over datasets the caller may read, nothing else.

Used by the SQL API for every request and by ``civiclake query`` once access
control is on. It parses with sqlglot (DuckDB dialect) and refuses, before
DuckDB sees anything:

* anything but exactly one query (``SELECT``/``WITH``/``UNION``…): no
  ``ATTACH``, ``COPY``, ``PRAGMA``, ``SET``, ``INSTALL``/``LOAD``, DDL or DML,
  anywhere in the tree;
* table references other than ``<dept>_<zone>.<dataset>`` the policy lets the
  caller read, CTE names, ``range``/``generate_series``/``unnest`` and a
  readable dataset's ``x_as_of(…)`` — so no ``read_csv('/etc/passwd')``,
  ``FROM 'file.csv'``, ``glob``, ``query(…)``, ``duckdb_settings()``, three-part
  names into other catalogs;
* functions DuckDB does not list as scalar/aggregate/window, and the few that
  reveal the server (``current_setting``, ``getenv``);
* control and format characters (NUL, bidi overrides), and SQL past a length limit.

What runs is the query *regenerated* from the checked tree without comments,
so a comment trick or a parser difference cannot smuggle text past the check.
DuckDB's own lock-down (no external access, configuration locked) is the
second wall, not the first.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from civiclake.access.exceptions import AccessDenied
from civiclake.naming import dataset_read
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    from civiclake.access.policy import AccessPolicy, Principal

DENIED_FUNCTIONS = frozenset({"current_setting", "getenv", "current_query", "current_query_id"})
"""Scalar functions that tell the caller about the server rather than the data."""


class SqlRefused(AccessDenied):
    """The guard refused a statement; ``code`` names the rule (for the API's error shape)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CheckedQuery:
    sql: str
    """The query to run: regenerated from the checked tree, comments dropped."""
    datasets: tuple[DatasetRef, ...]
    """The datasets it reads (``x`` for ``x__history`` and ``x_as_of``)."""


def check_sql(
    sql: str, policy: AccessPolicy, principal: Principal, *, max_chars: int = 20_000
) -> CheckedQuery:
    """Check ``sql`` for ``principal``; raise :class:`SqlRefused` saying which rule it broke."""
    import sqlglot
    from sqlglot import exp

    if len(sql) > max_chars:
        raise SqlRefused(
            "too_long", f"the SQL is {len(sql):,} characters; the limit is {max_chars:,}"
        )
    _check_characters(sql)
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise SqlRefused("parse_error", f"the SQL does not parse: {_first_line(exc)}") from None
    except RecursionError:
        raise SqlRefused("too_complex", "the SQL is nested too deeply to check") from None
    if len(statements) != 1:
        raise SqlRefused(
            "one_statement", f"send exactly one query (got {len(statements)} statements)"
        )
    query = statements[0]
    if not isinstance(query, exp.Query):
        kind = type(query).__name__.upper()
        raise SqlRefused("not_a_query", f"only queries (SELECT/WITH) are allowed, not {kind}")
    datasets = _check_tree(query, policy, principal)
    try:
        text = query.sql(dialect="duckdb", comments=False)
    except RecursionError:
        raise SqlRefused("too_complex", "the SQL is nested too deeply to check") from None
    return CheckedQuery(text, tuple(sorted(datasets)))


def _check_characters(sql: str) -> None:
    for ch in sql:
        if ch in "\t\n\r":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            raise SqlRefused(
                "bad_character",
                f"the SQL contains the invisible character U+{ord(ch):04X}; remove it",
            )


def _check_tree(query: Any, policy: AccessPolicy, principal: Principal) -> set[DatasetRef]:
    from sqlglot import exp

    forbidden_nodes = (exp.DML, exp.DDL, exp.Command, exp.Pragma, exp.Set, exp.Copy)
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    table_functions: set[int] = set()
    datasets: set[DatasetRef] = set()
    for node in query.walk():
        if isinstance(node, forbidden_nodes) or type(node).__name__ in ("Attach", "Install"):
            raise SqlRefused(
                "not_a_query", f"{type(node).__name__.upper()} is not allowed inside a query"
            )
        if isinstance(node, exp.Table):
            ref = _check_table(node, ctes, policy, principal)
            if ref is not None:
                datasets.add(ref)
            if isinstance(node.this, exp.Func):
                table_functions.add(id(node.this))
        elif isinstance(node, exp.Func) and id(node) not in table_functions:
            _check_function(node)
    return datasets


_TABLE_FUNCTIONS = ("GenerateSeries", "Unnest", "Explode", "ExplodeOuter")


def _check_table(
    table: Any, ctes: set[str], policy: AccessPolicy, principal: Principal
) -> DatasetRef | None:
    from sqlglot import exp

    if table.catalog:
        raise SqlRefused(
            "forbidden_table",
            f"three-part names ({table.catalog}.{table.db}.{table.name}) are not allowed; "
            "write <department>_<zone>.<dataset>",
        )
    this = table.this
    if isinstance(this, exp.Func) and not isinstance(this, exp.Anonymous):
        if type(this).__name__ in _TABLE_FUNCTIONS:
            return None
        raise SqlRefused(
            "forbidden_function", f"the table function {this.sql_name().lower()} is not allowed"
        )
    if isinstance(this, exp.Anonymous):
        name = dataset_read(this.name, call=True)
        if name == this.name or not table.db:
            raise SqlRefused(
                "forbidden_function",
                f"the table function {this.name.lower()}() is not allowed here; read datasets "
                "as <department>_<zone>.<dataset> (or <dataset>_as_of(DATE '…'))",
            )
        return _dataset(table.db, name, policy, principal)
    if not table.db:
        if table.name.lower() in ctes:
            return None
        raise SqlRefused(
            "unknown_table",
            f"{table.name!r} is not a dataset: name datasets as <department>_<zone>.<dataset> "
            "(files, URLs and other tables cannot be read)",
        )
    return _dataset(table.db, dataset_read(table.name), policy, principal)


def _dataset(schema: str, name: str, policy: AccessPolicy, principal: Principal) -> DatasetRef:
    from civiclake.config.suggest import did_you_mean

    qualified = f"{schema}.{name}".lower()
    ref = DatasetRef.parse(qualified, policy.departments)
    if ref is None or ref.qualified not in policy.datasets:
        readable = [i.ref.qualified for i in policy.readable(principal)]
        raise SqlRefused(
            "unknown_table",
            f"unknown dataset {qualified}{did_you_mean(qualified, readable)}; "
            f"{principal.name} can read {len(readable)} datasets",
        )
    if not policy.can_read(principal, ref):
        raise SqlRefused("forbidden_table", policy.why_not(principal, ref))
    return ref


def _check_function(func: Any) -> None:
    from sqlglot import exp

    if isinstance(func, exp.Anonymous):
        name = str(func.name).lower()
        if name in DENIED_FUNCTIONS or name not in duckdb_functions():
            raise SqlRefused("forbidden_function", f"the function {name}() is not allowed here")
    elif type(func).__name__.startswith("Read"):
        raise SqlRefused(
            "forbidden_function", f"the function {func.sql_name().lower()}() is not allowed"
        )


@lru_cache(maxsize=1)
def duckdb_functions() -> frozenset[str]:
    """DuckDB's scalar, aggregate, window and macro functions (no table functions)."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.sql(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'aggregate', 'window', 'macro')"
        ).fetchall()
    finally:
        con.close()
    return frozenset(r[0] for r in rows)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
