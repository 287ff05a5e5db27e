"""Arrow types as PostgreSQL types, faithfully: no silent narrowing.

Unsigned 64-bit integers become ``numeric(20)`` (PostgreSQL has no unsigned
types); nested types (lists, structs, maps) become ``jsonb``, written by
DuckDB's ``to_json``; anything else unknown is an error naming the column,
not a guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from civiclake.publish.exceptions import WarehouseError

if TYPE_CHECKING:
    import pyarrow as pa


def pg_type(arrow_type: pa.DataType, column: str = "") -> str:
    import pyarrow as pa

    t = pa.types
    simple = [
        (t.is_boolean, "boolean"),
        (t.is_int8, "smallint"),
        (t.is_int16, "smallint"),
        (t.is_int32, "integer"),
        (t.is_int64, "bigint"),
        (t.is_uint8, "smallint"),
        (t.is_uint16, "integer"),
        (t.is_uint32, "bigint"),
        (t.is_uint64, "numeric(20)"),
        (t.is_float16, "real"),
        (t.is_float32, "real"),
        (t.is_float64, "double precision"),
        (t.is_string, "text"),
        (t.is_large_string, "text"),
        (t.is_binary, "bytea"),
        (t.is_large_binary, "bytea"),
        (t.is_date, "date"),
        (t.is_time, "time"),
        (t.is_duration, "interval"),
    ]
    if hasattr(t, "is_string_view"):
        simple.append((t.is_string_view, "text"))
    for test, name in simple:
        if test(arrow_type):
            return name
    if t.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if t.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision}, {arrow_type.scale})"
    if t.is_nested(arrow_type):
        return "jsonb"
    if t.is_dictionary(arrow_type):
        return pg_type(arrow_type.value_type, column)
    raise WarehouseError(
        f"column {column or '?'} has type {arrow_type}, which has no PostgreSQL mapping yet; "
        "cast it in the job that writes the dataset"
    )


def is_nested(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_nested(arrow_type))
