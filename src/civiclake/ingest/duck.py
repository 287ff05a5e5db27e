"""DuckDB helpers the connectors share (files, API records, databases)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


def first_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[object, ...] | None:
    """The first row of a query, reading the result to its end.

    DuckDB 2 keeps a result open until fetched to the end (``fetchone`` leaves
    it open and blocks the next statement on the connection).
    """
    rows = con.execute(sql).fetchall()
    return tuple(rows[0]) if rows else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = first_row(con, sql)
    return int(row[0]) if row and row[0] is not None else 0  # type: ignore[call-overload]


def duckdb_type(dtype: pa.DataType) -> str | None:
    """The DuckDB name of an Arrow type civiclake writes, or None for nested/other types."""
    import pyarrow as pa

    simple = {
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.date32(): "DATE",
        pa.bool_(): "BOOLEAN",
        pa.string(): "VARCHAR",
        pa.large_string(): "VARCHAR",
        pa.string_view(): "VARCHAR",
    }
    if dtype in simple:
        return simple[dtype]
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP WITH TIME ZONE" if dtype.tz else "TIMESTAMP"
    return None


__all__ = ["duckdb_type", "first_row", "scalar"]
