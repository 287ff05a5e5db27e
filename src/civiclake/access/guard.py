"""The SQL guard: one read-only query over datasets the caller may read, nothing else.

Used by every door a person's SQL comes through — the SQL API for every request
and ``civiclake query`` — on top of the SQL surface (:mod:`civiclake.sql`):

* exactly one query, nothing that writes or configures, anywhere in the tree;
* every relation resolved *by scope*: a CTE only where that CTE is visible, a
  ``<dept>_<zone>.<dataset>`` (``x``, ``x__history``, ``x_as_of(…)``) only if it
  is a catalog dataset the policy lets the caller read; file paths, strings and
  unqualified names no CTE explains, every table function that reads
  (``read_csv``, ``glob``, ``query_table``, ``duckdb_settings``…), three-part
  names — refused;
* functions DuckDB does not list as scalar/aggregate/window, and the few that
  reveal the server (``current_setting``, ``getenv``, ``duckdb_*``);
* control and format characters (NUL, bidi overrides), and SQL past a length limit.

What runs is the query *regenerated* from the checked tree without comments,
so a comment trick or a parser difference cannot smuggle text past the check.
The session underneath is the second wall, not the first: it can open only the
files of the caller's readable datasets, serves masked datasets from sources the
SQL cannot name, and is locked (:mod:`civiclake.access.session`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from civiclake.access.exceptions import AccessDenied
from civiclake.sql import SqlRejected, check_functions, parse_query, regenerate, resolve_relations
from civiclake.sql.functions import DENIED_FUNCTIONS, duckdb_functions
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    from civiclake.access.policy import AccessPolicy, Principal

__all__ = ["DENIED_FUNCTIONS", "CheckedQuery", "SqlRefused", "check_sql", "duckdb_functions"]


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
    try:
        query = parse_query(sql, max_chars=max_chars)
        relations = resolve_relations(query)
        check_functions(query)
        datasets = {
            _dataset(r.schema, r.dataset, policy, principal)
            for r in relations
            if r.kind == "dataset"
        }
        text = regenerate(query)
    except SqlRejected as exc:
        raise SqlRefused(exc.code, str(exc)) from None
    return CheckedQuery(text, tuple(sorted(datasets)))


def _dataset(schema: str, name: str, policy: AccessPolicy, principal: Principal) -> DatasetRef:
    from civiclake.config.suggest import did_you_mean

    qualified = f"{schema}.{name}".lower()
    ref = DatasetRef.parse(qualified, policy.departments)
    if ref is None or ref.qualified not in policy.datasets:
        readable = [i.ref.qualified for i in policy.readable(principal)]
        raise SqlRefused(
            "unknown_table",
            f"unknown table {qualified}{did_you_mean(qualified, readable)}; "
            f"{principal.name} can read {len(readable)} datasets "
            "(`civiclake datasets` lists them)",
        )
    if not policy.can_read(principal, ref):
        raise SqlRefused("forbidden_table", policy.why_not(principal, ref))
    return ref
