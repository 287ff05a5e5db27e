"""From an event's Avro schema to a flat, typed Arrow table.

The decoders (:mod:`.decode`) produce Arrow with the schema's own names and
nesting (``Tenure.TenuredAsset.Uprn``). Analysts get one flat row per event
instead: nested records become ``parent_child`` columns in snake_case
(``tenure_tenured_asset_uprn``), arrays stay lists (their records with
snake_case fields), and ``long`` fields holding Unix seconds become
``TIMESTAMP`` in UTC, as every civiclake timestamp (by default every ``int``/``long`` field whose
name contains ``date``, as the housing stream sends its dates).

Flat columns keep schema evolution simple: a field added to the schema is a new
column of the Delta table (history and DuckDB's ``union_by_name`` handle that),
never a change inside a struct. Messages written with an older schema version
get NULL in the columns they do not have.

All conversions are on whole Arrow arrays (no per-row Python).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from civiclake.ingest.exceptions import IngestError
from civiclake.naming import snake_case

if TYPE_CHECKING:
    import pyarrow as pa

Timestamps = Callable[[str], bool]
"""Whether a (snake_case) integer field holds Unix seconds."""


def dates_by_name(name: str) -> bool:
    """The default rule: an integer field whose name contains ``date`` holds Unix seconds."""
    return "date" in name


@dataclass(frozen=True)
class Column:
    """One flat column: where it is in the event, its Arrow type, and its conversion."""

    name: str
    path: tuple[str, ...]
    """Field names from the event's root, as in the Avro schema."""
    type: pa.DataType
    unix_seconds: bool = False


def _unwrap(schema: Any, where: str) -> tuple[Any, bool]:
    """A union ``["null", X]`` is X, nullable; other unions are not supported."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) != 1:
            raise IngestError(
                f"field {where}: a union of {len(branches)} types is not supported; "
                'only optional fields (["null", T]) are'
            )
        return branches[0], True
    return schema, False


def arrow_type(schema: Any, where: str, timestamps: Timestamps, *, raw: bool) -> pa.DataType:
    """The Arrow type of an Avro type: ``raw`` keeps Avro's names and integers (what the
    decoders read into); otherwise snake_case fields and timestamps (what is stored)."""
    import pyarrow as pa

    schema, _ = _unwrap(schema, where)
    if isinstance(schema, dict):
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if kind == "record":
            return pa.struct(
                [
                    pa.field(
                        f["name"] if raw else snake_case(f["name"]),
                        arrow_type(f["type"], f"{where}.{f['name']}", timestamps, raw=raw),
                    )
                    for f in schema["fields"]
                ]
            )
        if kind == "array":
            return pa.list_(arrow_type(schema["items"], f"{where}[]", timestamps, raw=raw))
        if kind == "map":
            return pa.map_(pa.string(), arrow_type(schema["values"], where, timestamps, raw=raw))
        if kind == "enum":
            return pa.string()
        if kind == "fixed":
            return pa.binary()
        if logical == "decimal":
            return pa.decimal128(int(schema["precision"]), int(schema.get("scale", 0)))
        if not raw and logical in ("timestamp-millis", "timestamp-micros"):
            return pa.timestamp("us")
        if not raw and logical == "date":
            return pa.date32()
        return arrow_type(kind, where, timestamps, raw=raw)
    primitive = {
        "null": pa.null(),
        "boolean": pa.bool_(),
        "int": pa.int32(),
        "long": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "bytes": pa.binary(),
        "string": pa.string(),
    }
    if schema not in primitive:
        raise IngestError(f"field {where}: Avro type {schema!r} is not supported")
    if not raw and schema in ("int", "long") and timestamps(snake_case(where.rsplit(".", 1)[-1])):
        return pa.timestamp("us")
    return primitive[schema]


def columns(schema: dict[str, Any], timestamps: Timestamps = dates_by_name) -> list[Column]:
    """The flat columns of events of record ``schema``."""
    found: list[Column] = []

    def walk(fields: list[dict[str, Any]], path: tuple[str, ...], prefix: str) -> None:
        for f in fields:
            inner, _ = _unwrap(f["type"], ".".join((*path, f["name"])))
            name = prefix + snake_case(f["name"])
            where = ".".join((*path, f["name"]))
            if isinstance(inner, dict) and inner.get("type") == "record":
                walk(inner["fields"], (*path, f["name"]), name + "_")
                continue
            kind = arrow_type(inner, where, timestamps, raw=False)
            seconds = isinstance(inner, str) and inner in ("int", "long") and timestamps(name)
            found.append(Column(name, (*path, f["name"]), kind, seconds))

    if schema.get("type") != "record":
        raise IngestError("an event schema must be an Avro record")
    walk(schema["fields"], (), "")
    return found


def decoder_schema(schema: dict[str, Any]) -> pa.Schema:
    """The Arrow schema decoders read events into (Avro names and types, nested)."""
    import pyarrow as pa

    kind = arrow_type(schema, schema.get("name", "event"), dates_by_name, raw=True)
    return pa.schema(list(kind))


def flatten(decoded: pa.Table, target: list[Column]) -> pa.Table:
    """Decoded events (nested, Avro names) as the flat typed columns of ``target``."""
    import pyarrow as pa

    n = decoded.num_rows
    children: dict[tuple[str, ...], dict[str, pa.Array]] = {}
    arrays = []
    for column in target:
        found = _at(decoded, column.path, children)
        if found is None:
            arrays.append(pa.nulls(n, column.type))
        else:
            arrays.append(_convert(found, column.type))
    return pa.Table.from_arrays(arrays, names=[c.name for c in target])


def _at(
    decoded: pa.Table, path: tuple[str, ...], children: dict[tuple[str, ...], dict[str, pa.Array]]
) -> pa.Array | None:
    """The array at ``path``, with the nulls of its parents (None: not in this schema).

    ``children`` caches each struct's flattened fields, so a record with thirty
    fields is flattened once, not thirty times.
    """
    import pyarrow as pa

    if path[0] not in decoded.column_names:
        return None
    top = ("", path[0])  # a whole column, combined once (not a field path)
    if top not in children:
        children[top] = {"": decoded.column(path[0]).combine_chunks()}
    array = children[top][""]
    for depth, name in enumerate(path[1:], start=1):
        parent = path[:depth]
        if parent not in children:
            if not isinstance(array, pa.StructArray):
                return None
            fields = [f.name for f in array.type]
            children[parent] = dict(zip(fields, array.flatten(), strict=True))
        if name not in children[parent]:
            return None
        array = children[parent][name]
    return array


def _convert(array: pa.Array, target: pa.DataType) -> pa.Array:
    """``array`` as ``target``: renames struct fields (by position), converts seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(target) and pa.types.is_integer(array.type):
        # integers become timestamps only by the Unix-seconds rule (see ``columns``)
        micros = pc.multiply(array.cast(pa.int64()), 1_000_000)
        return micros.cast(pa.timestamp("us"))
    if pa.types.is_list(target) and (
        pa.types.is_list(array.type) or pa.types.is_large_list(array.type)
    ):
        offsets = array.offsets.cast(pa.int32())
        values = _convert(array.values, target.value_type)
        mask = array.is_null() if array.null_count else None
        return pa.ListArray.from_arrays(offsets, values, type=target, mask=mask)
    if pa.types.is_struct(target) and pa.types.is_struct(array.type):
        if array.offset:  # from_arrays below needs children aligned with the parent
            array = pa.concat_arrays([array])
        by_name = {array.type.field(i).name: array.field(i) for i in range(array.type.num_fields)}
        sources = [array.type.field(i).name for i in range(array.type.num_fields)]
        children = []
        for i, field in enumerate(target):
            name = sources[i] if i < len(sources) else None
            child = by_name.get(name) if name is not None else None
            children.append(
                pa.nulls(len(array), field.type) if child is None else _convert(child, field.type)
            )
        mask = array.is_null() if array.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    if array.type == target:
        return array
    return array.cast(target)


__all__ = ["Column", "Timestamps", "arrow_type", "columns", "dates_by_name", "decoder_schema"]
