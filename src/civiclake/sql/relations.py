"""What every relation of a query binds to, resolved by scope.

A relation (an ``exp.Table`` in sqlglot's tree) is exactly one of:

* a **CTE reference**: unqualified, and a CTE of that name is visible at that
  point — sqlglot's scope analysis binds it to the CTE's scope *and* a walk up
  the reference's own ancestors finds the CTE in a ``WITH`` it may see (the CTEs
  before it in its own ``WITH``, itself under ``RECURSIVE``, every CTE of an
  enclosing query). Both must agree.
* a **dataset**: ``<schema>.<name>`` (``x``, ``x__history``) or a call
  ``<schema>.x_as_of(…)``, ``x_as_known(…)``, ``x_diff(…)``; the caller decides
  whether the name is a dataset it may read.
* a **value generator**: ``range``/``generate_series`` (they read nothing).

Everything else is refused here: a file path or string used as a table, an
unqualified name no CTE explains (DuckDB would bind it as a replacement scan of
a file), every other table function (``read_csv``, ``glob``, ``query_table``,
``duckdb_settings``…, whatever it is called), three-part names into other
catalogs, and CTE names that look like paths. A relation the scope analysis did
not place is refused too: the check fails closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from civiclake.naming import AS_OF_SUFFIX, dataset_read
from civiclake.sql.exceptions import SqlRejected

if TYPE_CHECKING:
    from sqlglot import exp

VALUE_GENERATORS = ("GenerateSeries",)
"""sqlglot's node for ``range``/``generate_series`` in FROM: numbers, no reads."""

_PATH_LIKE = re.compile(r"[/\\.*?:'\"~$]")


@dataclass(frozen=True)
class Relation:
    """One relation of a query and what it binds to."""

    kind: Literal["dataset", "cte", "generator", "function", "unqualified"]
    """``function`` and ``unqualified`` only when resolving with ``strict=False`` (jobs)."""
    schema: str = ""
    """``<department>_<zone>`` for a dataset, lowercased."""
    name: str = ""
    """As written (lowercased): ``x``, ``x__history``, ``x_as_of`` for a call, or the CTE's name."""
    dataset: str = ""
    """The dataset read: ``x`` for ``x``, ``x__history``, ``x_as_of(…)`` and ``x_diff(…)``."""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.dataset}"


def resolve_relations(query: exp.Query, *, strict: bool = True) -> list[Relation]:
    """Every relation of ``query``, in tree order; raises :class:`SqlRejected` for one refused.

    ``strict=False`` is for the platform's own jobs, which run with the project's
    access and may call table functions: those come back as ``function``, and
    unqualified names no CTE explains as ``unqualified`` (the job says which
    dataset was meant), instead of being refused. Scoping is the same either way.
    """
    from sqlglot import exp

    try:
        scoped = _scope_bindings(query)
    except SqlRejected:
        if strict:
            raise
        scoped = {}
    relations: list[Relation] = []
    for table in query.find_all(exp.Table):
        binding = scoped.get(id(table))
        if binding is None and not strict:
            binding = True  # the ancestor walk alone decides, for the platform's own jobs
        if binding is None:
            raise SqlRejected(
                "unresolved_table",
                f"cannot tell what {_shown(table)} refers to here; name datasets as "
                "<department>_<zone>.<dataset>",
            )
        try:
            relations.append(_classify(table, binding))
        except SqlRejected:
            if strict:
                raise
            relations.append(_lenient(table))
    for cte in query.find_all(exp.CTE):
        name = cte.alias_or_name
        if strict and _PATH_LIKE.search(name):
            raise SqlRejected(
                "forbidden_table",
                f"the CTE name {name!r} looks like a file path; name CTEs with letters, "
                "digits and _",
            )
    return relations


def _scope_bindings(query: exp.Query) -> dict[int, bool]:
    """``id(table) → is_cte`` as sqlglot's scope analysis binds each table of ``query``."""
    from sqlglot import exp
    from sqlglot.errors import OptimizeError
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
    from sqlglot.optimizer.scope import Scope, traverse_scope

    # DuckDB matches names case-insensitively, quoted or not; sqlglot's scopes compare them
    # as written. So scopes are built on a normalised copy, whose tables pair with the
    # original's in tree order (what runs keeps the caller's spelling).
    bindings: dict[int, bool] = {}
    try:
        normalised = normalize_identifiers(query.copy(), dialect="duckdb")
        scopes = traverse_scope(normalised)
    except (OptimizeError, RecursionError) as exc:
        raise SqlRejected(
            "unresolved_table", f"cannot resolve the query's tables: {str(exc)[:200]}"
        ) from None
    original = {
        id(copy): id(table)
        for copy, table in zip(
            normalised.find_all(exp.Table), query.find_all(exp.Table), strict=True
        )
    }
    for scope in scopes:
        for table in scope.tables:
            source = scope.sources.get(table.alias_or_name)
            is_cte = isinstance(source, Scope) and source.is_cte
            bindings[original[id(table)]] = is_cte
    return bindings


def _classify(table: exp.Table, scoped_as_cte: bool) -> Relation:
    from sqlglot import exp

    if table.catalog:
        raise SqlRejected(
            "forbidden_table",
            f"three-part names ({table.catalog}.{table.db}.{table.name}) are not allowed; "
            "write <department>_<zone>.<dataset>",
        )
    this = table.this
    if isinstance(this, exp.Func):
        if type(this).__name__ in VALUE_GENERATORS and not table.db:
            return Relation("generator", name=this.sql_name().lower())
        if isinstance(this, exp.Anonymous) and table.db:
            name = str(this.name).lower()
            dataset = dataset_read(name, call=True)
            if dataset != name:  # x_as_of(…), x_as_known(…), x_diff(…)
                return Relation("dataset", table.db.lower(), name, dataset)
        called = this.name if isinstance(this, exp.Anonymous) else this.sql_name()
        raise SqlRejected(
            "forbidden_function",
            f"the table function {str(called).lower()}() is not allowed; read datasets as "
            f"<department>_<zone>.<dataset> (or <dataset>{AS_OF_SUFFIX}(DATE '…'))",
        )
    if not isinstance(this, exp.Identifier):
        raise SqlRejected("unresolved_table", f"{_shown(table)} is not a table name")
    name = str(this.name)
    if not table.db:
        if scoped_as_cte and _cte_visible(table, name.lower()):
            return Relation("cte", name=name.lower())
        what = "a file path" if _PATH_LIKE.search(name) else "not a dataset or a CTE in scope"
        raise SqlRejected(
            "unknown_table",
            f"{name!r} is {what}: name datasets as <department>_<zone>.<dataset> "
            "(files, URLs and other tables cannot be read)",
        )
    # a quoted "schema"."../x.parquet" is no dataset either: the caller's catalog lookup refuses it
    return Relation("dataset", table.db.lower(), name.lower(), dataset_read(name.lower()))


def _lenient(table: exp.Table) -> Relation:
    from sqlglot import exp

    if isinstance(table.this, exp.Func):
        return Relation("function", name=table.this.sql_name().lower())
    if not table.db:
        return Relation("unqualified", name=table.name)
    parts = (table.catalog, table.db)
    return Relation("dataset", ".".join(p for p in parts if p), table.name, table.name)


def _cte_visible(table: exp.Table, name: str) -> bool:
    """Whether a CTE called ``name`` is visible where ``table`` stands (by its ancestors)."""
    from sqlglot import exp

    node: Any = table
    skip_with: Any = None
    while node is not None:
        parent = node.parent
        if isinstance(node, exp.CTE) and isinstance(parent, exp.With):
            ctes = list(parent.expressions)
            index = next(i for i, c in enumerate(ctes) if c is node)
            visible = ctes[: index + 1] if parent.args.get("recursive") else ctes[:index]
            if any(c.alias_or_name.lower() == name for c in visible):
                return True
            skip_with = parent  # its later CTEs are not visible from here
        elif isinstance(node, exp.Query):
            with_ = node.args.get("with_") or node.args.get("with")
            if (
                with_ is not None
                and with_ is not skip_with
                and any(c.alias_or_name.lower() == name for c in with_.expressions)
            ):
                return True
        node = parent
    return False


def _shown(table: exp.Table) -> str:
    try:
        return table.sql(dialect="duckdb")[:120]
    except Exception:  # a tree sqlglot cannot print is refused all the same
        return "a table"
