"""PII follows the data: which output columns of a job carry personal data, and why.

A job's own ``pii:`` list used to decide alone, so ``SELECT tenant_name AS
name_of_tenant`` published real names to every door with nothing masked. Now
every run works out, for each output column, the input columns it derives from
(its *column lineage*) and the output's PII is::

    declared pii:  ∪  derived from an input's PII column  −  pii_cleared

The inputs' PII comes from their catalog entries, which for a job's output is
this same effective list, so PII follows the data through any chain of jobs.

* **SQL jobs** are traced with sqlglot (``qualify`` against the catalog's
  columns of the inputs, then ``sqlglot.lineage``): aliases, expressions, CASE,
  concatenation, CTEs, subqueries, UNION branches, ``*`` expansion, windows,
  joins. An aggregate derives from what it aggregates (``count(name)`` from
  ``name``); only ``count(*)`` and literals derive from nothing. Filters
  (WHERE, JOIN … ON, QUALIFY) are not a column's values and are not traced.
* **Python jobs** are opaque, so they declare ``derives={"out": ["schema.dataset.col"]}``.
  A column without a declaration is *unresolved*; so is a SQL column sqlglot
  cannot trace (``COLUMNS(…)``, unknown functions, ``UNION BY NAME``).
* An **unresolved** column derives from every PII column of the inputs: never
  silently clean. The lineage records it as unresolved so it can be fixed.
* **Clearing** is explicit and has a reason (``pii_cleared``); clearing a column
  that is not in the result, or not PII, is an error — a clearance that matches
  nothing is a typo that would leave the real column masked or, worse, hide that
  the author misread the lineage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from civiclake import lineage as stamps
from civiclake.config.suggest import did_you_mean
from civiclake.jobs.exceptions import JobDefinitionError
from civiclake.metadata.store import LineageEdge

if TYPE_CHECKING:
    from sqlglot import exp

    from civiclake.project import Project

_AUTO_NAME = re.compile(r"^_col_\d+$")
"""How sqlglot names an unaliased expression (DuckDB names it by its text)."""


@dataclass(frozen=True)
class InputColumns:
    """An input dataset as the catalog knows it: its columns and which of them are PII."""

    dataset: str
    columns: tuple[str, ...]
    pii: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Derivation:
    """The input ``(dataset, column)`` pairs one output column derives from.

    ``resolved=False`` means nobody knows: the column is treated as derived from
    every PII column of the inputs.
    """

    sources: frozenset[tuple[str, str]] = frozenset()
    resolved: bool = True


UNRESOLVED = Derivation(resolved=False)


@dataclass(frozen=True)
class PiiDecision:
    """A run's verdict on its output's PII, and the lineage that led to it."""

    columns: list[str]
    """The effective PII list written to the catalog (in result column order)."""
    derived: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Output column → the PII input columns it derives from (before clearing)."""
    cleared: dict[str, str] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)

    def notes(self) -> list[str]:
        """Lines for the run summary: what was assumed to be PII for want of lineage."""
        guessed = [c for c in self.unresolved if c in self.derived and c not in self.cleared]
        if not guessed:
            return []
        return [
            f"lineage unknown for {', '.join(guessed)}: treated as PII (declare the "
            "lineage, or clear the column with pii_cleared and a reason)"
        ]


def catalog_inputs(project: Project, names: Iterable[str]) -> dict[str, InputColumns]:
    """``{schema.table: InputColumns}`` from the catalog for the tables a job names.

    A name the catalog does not know is left out; columns read from it cannot be
    traced and so count as unresolved.
    """
    found: dict[str, InputColumns] = {}
    for name in names:
        row = project.store.dataset(name)
        if row is None:
            continue
        columns = tuple(c["name"] for c in row["columns"] or [])
        found[name.lower()] = InputColumns(name.lower(), columns, frozenset(row["pii"] or ()))
    return found


# -- SQL ---------------------------------------------------------------------------------
def sql_tables(query: exp.Query) -> list[str]:
    """The ``schema.table`` names lineage needs a schema for (``x_as_of(…)`` read as ``x``)."""
    from sqlglot import exp

    return sorted(
        {
            f"{table.db}.{table.name}".lower()
            for table in _as_plain_tables(query.copy()).find_all(exp.Table)
            if table.db and isinstance(table.this, exp.Identifier)
        }
    )


def sql_lineage(
    query: exp.Query, inputs: Mapping[str, InputColumns], output: Sequence[str]
) -> dict[str, Derivation]:
    """What each of ``output`` (the result's column names, in order) derives from.

    Anything sqlglot cannot follow makes that column — or, when the query cannot be
    traced at all, every column — unresolved rather than clean.
    """
    from sqlglot import exp
    from sqlglot.lineage import lineage

    if any(u.args.get("by_name") for u in query.find_all(exp.SetOperation)):
        # sqlglot pairs UNION BY NAME branches by position: a PII column could be
        # credited to the wrong output column, so none of them is trusted
        return dict.fromkeys(output, UNRESOLVED)
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for info in inputs.values():
        db, _, table = info.dataset.partition(".")
        schema.setdefault(db, {})[table] = dict.fromkeys(info.columns, "TEXT")
    try:
        nodes = lineage(None, _as_plain_tables(query.copy()), schema=schema, dialect="duckdb")
    except Exception:  # any failure to trace is "unknown", never "clean"
        return dict.fromkeys(output, UNRESOLVED)
    assert isinstance(nodes, dict)
    traced = {name: _derivation(node, inputs) for name, node in nodes.items()}
    names = list(traced)
    result: dict[str, Derivation] = {}
    if len(names) == len(output):
        for column, name in zip(output, names, strict=True):
            same = column.lower() == name.lower() or bool(_AUTO_NAME.match(name))
            result[column] = traced[name] if same else UNRESOLVED
        return result
    by_name = {name.lower(): d for name, d in traced.items()}
    return {column: by_name.get(column.lower(), UNRESOLVED) for column in output}


def _derivation(node: Any, inputs: Mapping[str, InputColumns]) -> Derivation:
    """Fold a sqlglot lineage tree into the input columns at its leaves."""
    import sqlglot
    from sqlglot import exp

    sources: set[tuple[str, str]] = set()
    for leaf in node.walk():
        if leaf.downstream:
            continue
        expression = leaf.expression
        if isinstance(expression, exp.Table) and not isinstance(expression.this, exp.Identifier):
            if _reads_nothing(expression.this):
                continue  # range(DATE '2015-01-01', …): generated, not read
            return UNRESOLVED  # unnest(t.names) and the like: not followed
        if isinstance(expression, exp.Table):
            dataset = f"{expression.db}.{expression.name}".lower()
            info = inputs.get(dataset)
            if info is None:
                return UNRESOLVED  # a table the catalog lacks
            column = sqlglot.parse_one(leaf.name, into=exp.Column, dialect="duckdb").name
            by_lower = {c.lower(): c for c in info.columns}
            if column.lower() not in by_lower:
                return UNRESOLVED
            sources.add((dataset, by_lower[column.lower()]))
        elif not _reads_nothing(expression):
            return UNRESOLVED
    return Derivation(frozenset(sources))


def _reads_nothing(expression: exp.Expr) -> bool:
    """True for a leaf made of literals and ``count(*)``: it carries no input value."""
    from sqlglot import exp

    for part in expression.walk():
        if isinstance(part, exp.Column | exp.Columns | exp.Anonymous):
            return False
        if isinstance(part, exp.Star) and not isinstance(part.parent, exp.Count):
            return False
    return True


def _as_plain_tables(query: exp.Query) -> exp.Query:
    """``schema.x_as_of(DATE '…')`` → ``schema.x``: the same columns, a table sqlglot knows.

    ``x_diff(…)`` becomes ``x`` too: its key columns trace to ``x``'s, and its own
    (``old_value``, ``new_value``…) are no column of ``x``, so they stay unresolved —
    never clean."""
    from sqlglot import exp

    from civiclake.naming import dataset_read

    for table in list(query.find_all(exp.Table)):
        if isinstance(table.this, exp.Anonymous) and table.db:
            name = table.this.name
            base = dataset_read(name, call=True)
            if base != name:
                table.set("this", exp.to_identifier(base))
    return query


# -- Python ------------------------------------------------------------------------------
def declared_lineage(
    declared: Mapping[str, Sequence[str]],
    inputs: Mapping[str, InputColumns],
    output: Sequence[str],
    *,
    where: str,
) -> dict[str, Derivation]:
    """A Python job's ``derives=``, checked against the result and the inputs' columns.

    An undeclared column is unresolved. A column named like a PII column of an input
    always derives from it too: the same name is the strongest evidence of the same
    data, and saying otherwise is what ``pii_cleared`` (with a reason) is for.
    """
    for column in declared:
        if column not in output:
            raise JobDefinitionError(
                f"{where}: derives names {column!r}, which is not in the result"
                f"{did_you_mean(column, output)}. Columns: {', '.join(output)}"
            )
    result: dict[str, Derivation] = {}
    for column in output:
        if column not in declared:
            result[column] = UNRESOLVED
            continue
        sources = {_declared_source(s, inputs, column, where) for s in declared[column]}
        result[column] = Derivation(frozenset(sources))
    for column, derivation in result.items():
        same = {(i.dataset, column) for i in inputs.values() if column in i.pii}
        if same and derivation.resolved:
            result[column] = Derivation(derivation.sources | same)
    return result


def _declared_source(
    source: str, inputs: Mapping[str, InputColumns], column: str, where: str
) -> tuple[str, str]:
    dataset, _, name = source.lower().rpartition(".")
    info = inputs.get(dataset)
    if info is None:
        known = [f"{i.dataset}.<column>" for i in inputs.values()]
        raise JobDefinitionError(
            f"{where}: derives[{column!r}] names {source!r}, which is not a column of an "
            f"input{did_you_mean(dataset, list(inputs))}; write <department>_<zone>."
            f"<dataset>.<column> of one of: {', '.join(known) or '(no inputs)'}"
        )
    if name not in info.columns:
        raise JobDefinitionError(
            f"{where}: derives[{column!r}] names {source!r}, but {info.dataset} has no "
            f"column {name!r}{did_you_mean(name, info.columns)}"
        )
    return (info.dataset, name)


# -- the verdict ---------------------------------------------------------------------------
def decide(
    output: Sequence[str],
    lineage: Mapping[str, Derivation],
    inputs: Mapping[str, InputColumns],
    *,
    declared: Sequence[str],
    cleared: Mapping[str, str],
    where: str,
    cleared_where: Mapping[str, str] | None = None,
) -> PiiDecision:
    """Declared ∪ derived − cleared, with the lineage edges to record.

    ``where``/``cleared_where`` locate errors (the file and, per cleared column, the
    line). Lineage columns (``_import_id``…) are civiclake's own and never PII.
    """
    columns = [c for c in dict.fromkeys(output) if c not in stamps.ALL]
    every_pii = sorted((i.dataset, c) for i in inputs.values() for c in i.pii)
    derived: dict[str, list[tuple[str, str]]] = {}
    edges: list[LineageEdge] = []
    unresolved: list[str] = []
    for column in columns:
        derivation = lineage.get(column, UNRESOLVED)
        if derivation.resolved:
            for dataset, source in sorted(derivation.sources):
                is_pii = source in inputs[dataset].pii if dataset in inputs else True
                edges.append(LineageEdge(column, dataset, source, pii=is_pii))
                if is_pii:
                    derived.setdefault(column, []).append((dataset, source))
            continue
        unresolved.append(column)
        if every_pii:
            derived[column] = list(every_pii)
            edges.extend(LineageEdge(column, d, s, resolved=False, pii=True) for d, s in every_pii)
        else:
            edges.append(LineageEdge(column, None, None, resolved=False))
    _check_cleared(columns, declared, derived, cleared, where, cleared_where or {})
    pii = [c for c in columns if (c in declared or c in derived) and c not in cleared]
    return PiiDecision(pii, derived, dict(cleared), unresolved, edges)


def _check_cleared(
    columns: Sequence[str],
    declared: Sequence[str],
    derived: Mapping[str, Sequence[tuple[str, str]]],
    cleared: Mapping[str, str],
    where: str,
    cleared_where: Mapping[str, str],
) -> None:
    for column in cleared:
        at = cleared_where.get(column, where)
        if column not in columns:
            raise JobDefinitionError(
                f"{at}: pii_cleared names {column!r}, which is not in the result"
                f"{did_you_mean(column, columns)}. Columns: {', '.join(columns)}"
            )
        if column in declared:
            raise JobDefinitionError(
                f"{at}: {column!r} is both declared PII (pii:) and cleared (pii_cleared); "
                "remove it from one of them"
            )
        if column not in derived:
            pii = sorted(derived)
            hint = did_you_mean(column, pii) if pii else ""
            raise JobDefinitionError(
                f"{at}: pii_cleared names {column!r}, which is not PII: it derives from no "
                f"PII column of the inputs{hint}. Remove it from pii_cleared"
                + (f" (PII here: {', '.join(pii)})" if pii else "")
            )
