"""String records typed in two DuckDB passes: decide every column's type, then cast.

Pass one is a single aggregate over the records: for each column to infer,
the narrowest and widest kind of its values; for each column with a known
type (existing or overridden), how many values do not cast, and how many of
those do not fit the wider type either. Pass two casts every column and,
only when some value failed, finds each row's first failing column. Rows are
filtered in Arrow, so lineage columns reach both tables untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from civiclake.ingest.duck import duckdb_type, first_row
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.records import _casts
from civiclake.ingest.records._pages import ordinals
from civiclake.naming import is_identifier, literal, quote
from civiclake.storage.connections import DEFAULT, Connections

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

_ROW = "__civiclake_row"
_SHOWN = 200
"""Characters of a bad value quoted in its reject reason (the value column has it all)."""


@dataclass(frozen=True)
class TypedRecords:
    """What :func:`type_records` made of a table of string records."""

    table: pa.Table
    """Typed good rows: existing columns first (existing order), then new ones,
    then the lineage columns (names starting ``_``) as they came."""
    rejected: pa.Table
    """Bad rows: the original columns, lineage, ``_reject_column``, ``_reject_value``,
    ``_reject_reason``."""
    added: list[tuple[str, str]]
    """``(column, type)`` for columns not in ``existing`` (``parent.field`` inside a struct)."""
    widened: list[tuple[str, str, str]]
    """``(column, old type, new type)``."""


@dataclass
class _Leaf:
    """One string value to type: a column, or a field of a struct column."""

    label: str
    value: str
    given: str | None = None
    """The existing type, else the override, else None (inferred)."""
    wider: str | None = None
    """The type an existing column widens to when its new values do not fit."""
    target: str = "VARCHAR"


@dataclass
class _Node:
    """One output column or struct field: a leaf, or a struct of nodes."""

    name: str
    source: str
    old: pa.DataType | None = None
    leaf: _Leaf | None = None
    children: list[_Node] = field(default_factory=list)
    absent: str | None = None
    """An existing struct field the records lack: kept, as a NULL of this type."""

    def leaves(self) -> Iterator[_Leaf]:
        if self.leaf is not None:
            yield self.leaf
        for child in self.children:
            yield from child.leaves()

    def type_name(self) -> str:
        if self.absent:
            return self.absent
        if self.leaf is not None:
            return self.leaf.target
        fields = ", ".join(f"{_ident(c.name)} {c.type_name()}" for c in self.children)
        return f"STRUCT({fields})"

    def unchanged(self) -> bool:
        """Kept exactly at its existing type (no new or widened field)."""
        if self.old is None:
            return False
        if self.leaf is not None:
            return self.leaf.target == self.leaf.given
        return all(c.absent or c.unchanged() for c in self.children)

    def sql(self) -> str:
        if self.absent:
            return f"CAST(NULL AS {self.absent})"
        if self.leaf is not None:
            return _casts.convert(self.leaf.value, self.leaf.target)
        packed = ", ".join(f"{quote(c.name)} := {c.sql()}" for c in self.children)
        return f"CASE WHEN {self.source} IS NULL THEN NULL ELSE struct_pack({packed}) END"


def type_records(
    records: pa.Table,
    *,
    existing: pa.Schema | None = None,
    overrides: Mapping[str, str] | None = None,
    context: str = "",
    connections: Connections = DEFAULT,
) -> TypedRecords:
    """Type string records (see :mod:`civiclake.ingest.records` for the rules)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = [f for f in records.schema if not f.name.startswith("_")]
    lineage = [f.name for f in records.schema if f.name.startswith("_")]
    known = {f.name: f for f in existing or [] if not f.name.startswith("_")}
    chosen = {k: _casts.normalise_type(t, k) for k, t in (overrides or {}).items()}
    con = connections.open(timezone="UTC")
    try:
        nodes = [_plan(con, f, known.get(f.name), chosen, quote(f.name), f.name) for f in data]
        order = list(known)
        nodes.sort(key=lambda n: len(order) if n.old is None else order.index(n.name))  # stable
        con.register("records", records.append_column(_ROW, ordinals(records.num_rows)))
        leaves = [leaf for node in nodes for leaf in node.leaves()]
        widened, failing = _decide(con, leaves)
        typed = _cast(con, nodes, failing, context)
    finally:
        con.close()

    good = typed["__ok"] if failing else pa.repeat(pa.scalar(True), records.num_rows)
    table = _as_existing(typed.select([n.name for n in nodes]).filter(good), nodes)
    for name in lineage:
        table = table.append_column(records.schema.field(name), records[name].filter(good))
    bad = pc.invert(good)
    rejected = records.select([f.name for f in data] + lineage).filter(bad)
    for name in ("_reject_column", "_reject_value", "_reject_reason"):
        column = typed[name].filter(bad) if failing else pa.array([], pa.string())
        rejected = rejected.append_column(name, column)
    added = []
    for node in nodes:
        if node.old is None:
            added.append((node.name, node.type_name()))
        else:
            added += [
                (f"{node.name}.{c.name}", c.type_name()) for c in node.children if c.old is None
            ]
    return TypedRecords(table, rejected, added, widened)


def _plan(
    con: duckdb.DuckDBPyConnection,
    column: pa.Field,
    old: pa.Field | None,
    overrides: dict[str, str],
    source: str,
    label: str,
) -> _Node:
    """How one column (or struct field) of the records becomes typed."""
    import pyarrow as pa

    dtype = column.type
    node = _Node(column.name, source, old=None if old is None else old.type)
    was_struct = old is not None and pa.types.is_struct(old.type)
    old_type = None if old is None or was_struct else _duck(con, old.type)
    if pa.types.is_struct(dtype) and (old is None or was_struct):
        if label in overrides:
            raise _casts.InvalidTypeError(
                f"override for column `{label}`: it holds nested fields; override each of "
                f"them (`{label}.<field>`) instead"
            )
        fields = {f.name: f for f in old.type} if old is not None and was_struct else {}
        for child in dtype:
            access = f"struct_extract({source}, {literal(child.name)})"
            label_child = f"{label}.{child.name}"
            node.children.append(
                _plan(con, child, fields.get(child.name), overrides, access, label_child)
            )
        for name, gone in fields.items():
            if name not in dtype.names:
                node.children.append(_Node(name, "", old=gone.type, absent=_duck(con, gone.type)))
        rank = list(fields)
        node.children.sort(key=lambda c: len(rank) if c.old is None else rank.index(c.name))
        return node
    if was_struct or (pa.types.is_struct(dtype) and not _casts.is_text(old_type or "")):
        shapes = ("a struct", "text") if was_struct else (old_type, "a struct")
        raise IngestError(
            f"column `{label}` is {shapes[0]} in the table but {shapes[1]} in these records; "
            "read the pages with the `nested` setting the table was made with"
        )
    value = source
    if not (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)):
        value = f"to_json({source})::VARCHAR" if pa.types.is_nested(dtype) else f"{source}::VARCHAR"
    given = old_type or overrides.get(label)
    wider = None if old_type is None else _casts.wider(old_type)
    node.leaf = _Leaf(label, value, given=given, wider=wider)
    return node


def _decide(
    con: duckdb.DuckDBPyConnection, leaves: list[_Leaf]
) -> tuple[list[tuple[str, str, str]], list[_Leaf]]:
    """Set every leaf's target type; return the widenings and the leaves that reject rows."""
    parts: list[str] = []
    aggregates: list[str] = []
    for i, leaf in enumerate(leaves):
        if leaf.given is None:
            parts.append(f"{_casts.kind(leaf.value)} AS k{i}")
            aggregates += [f"min(k{i})", f"max(k{i})"]
        elif not _casts.is_text(leaf.given):
            parts.append(f"{_casts.fails(leaf.value, leaf.given)} AS f{i}")
            aggregates.append(f"count_if(f{i})")
            if leaf.wider:
                parts.append(f"{_casts.fails(leaf.value, leaf.wider)} AS w{i}")
                aggregates.append(f"count_if(f{i} AND w{i})")
    row: tuple[object, ...] = ()
    if aggregates:
        sql = f"SELECT {', '.join(aggregates)} FROM (SELECT {', '.join(parts)} FROM records)"
        row = first_row(con, sql) or ()
    stats = iter(row)
    widened: list[tuple[str, str, str]] = []
    failing: list[_Leaf] = []
    for leaf in leaves:
        if leaf.given is None:
            leaf.target = _casts.combine(_int(next(stats)), _int(next(stats)))
            continue
        leaf.target = leaf.given
        if _casts.is_text(leaf.given):
            continue
        bad = _int(next(stats))
        beyond = _int(next(stats)) if leaf.wider else None
        if bad and leaf.wider and beyond == 0:
            leaf.target = leaf.wider
            widened.append((leaf.label, leaf.given, leaf.wider))
        elif bad:
            failing.append(leaf)
    return widened, failing


def _cast(
    con: duckdb.DuckDBPyConnection, nodes: list[_Node], failing: list[_Leaf], context: str
) -> pa.Table:
    """Every column cast; with failing leaves also ``__ok`` and the three reject columns."""
    import pyarrow.compute as pc

    columns = [_ROW] + [f"{n.sql()} AS {quote(n.name)}" for n in nodes]
    if failing:
        prefix = f"{context}." if context else ""
        # a test that cannot decide (NULL) rejects: no row may fall out of both tables
        tests = [
            (f"coalesce({_casts.fails(leaf.value, leaf.target)}, true)", leaf) for leaf in failing
        ]
        which = " ".join(f"WHEN {t} THEN {literal(leaf.label)}" for t, leaf in tests)
        value = " ".join(f"WHEN {t} THEN {leaf.value}" for t, leaf in tests)
        reason = " ".join(f"WHEN {t} THEN {_reason(prefix, leaf)}" for t, leaf in tests)
        columns += [
            f"NOT ({' OR '.join(t for t, _ in tests)}) AS __ok",
            f"CASE {which} END AS _reject_column",
            f"CASE {value} END AS _reject_value",
            f"CASE {reason} END AS _reject_reason",
        ]
    typed = con.sql(f"SELECT {', '.join(columns)} FROM records").to_arrow_table()
    if not pc.all(pc.equal(typed[_ROW], ordinals(typed.num_rows))).as_py():
        typed = typed.take(pc.sort_indices(typed[_ROW]))  # not expected: DuckDB keeps order
    return typed


def _reason(prefix: str, leaf: _Leaf) -> str:
    """SQL: ``planning_refined.fees.fee: 'abc' is not a DOUBLE``."""
    v = leaf.value
    shown = f"left({v}, {_SHOWN}) || CASE WHEN length({v}) > {_SHOWN} THEN '…' ELSE '' END"
    return (
        f"{literal(f'{prefix}{leaf.label}: ' + chr(39))} || {shown} || "
        f"{literal(chr(39) + f' is not {_article(leaf.target)} {leaf.target}')}"
    )


def _as_existing(table: pa.Table, nodes: list[_Node]) -> pa.Table:
    """Columns kept at their existing type get its exact Arrow form (e.g. its time zone)."""
    for i, node in enumerate(nodes):
        if node.old is not None and node.unchanged() and table.schema.field(i).type != node.old:
            target = table.schema.field(i).with_type(node.old)
            table = table.set_column(i, target, table.column(i).cast(node.old))
    return table


def _duck(con: duckdb.DuckDBPyConnection, dtype: pa.DataType) -> str:
    """DuckDB's name for an Arrow type."""
    import pyarrow as pa

    simple = duckdb_type(dtype)
    if simple is not None:
        return simple
    con.register("__type_probe", pa.schema([pa.field("x", dtype)]).empty_table())
    try:
        return str(con.sql("DESCRIBE __type_probe").fetchall()[0][1])
    finally:
        con.unregister("__type_probe")


def _ident(name: str) -> str:
    return name if is_identifier(name) else quote(name)


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _article(type_name: str) -> str:
    return "an" if type_name[:1] in "AEIOU" else "a"
