"""How a string value becomes each type: the SQL that classifies, accepts and casts it.

DuckDB's own casts are lenient in ways that would change data silently
(``'1.5'`` → BIGINT ``2``, ``'2024-01-01 10:00'`` → DATE ``2024-01-01``,
``'0x10'`` → ``16``, an offset dropped from a timestamp), so every cast here
is a ``TRY_CAST`` guarded by a pattern of the value's shape.
"""

from __future__ import annotations

import re

from civiclake.config.suggest import did_you_mean
from civiclake.ingest.exceptions import IngestError
from civiclake.naming import literal

ALLOWED_TYPES = (
    "VARCHAR",
    "BOOLEAN",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "DECIMAL(p,s)",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
)
"""Type names an override may use (case-insensitive; a few aliases are also accepted)."""

_ALIASES = {
    "TEXT": "VARCHAR",
    "STRING": "VARCHAR",
    "BOOL": "BOOLEAN",
    "INT": "INTEGER",
    "LONG": "BIGINT",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
}

INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT")

INFERRED = ("BOOLEAN", "BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "VARCHAR")
"""The kinds :func:`kind` numbers 0–5, narrowest first."""

_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")

# Inference: the shapes a value must have exactly (no blanks, no leading zeros,
# which a number would lose: `007`, a phone number).
_STRICT_REAL = r"[+-]?(0|[1-9][0-9]*)(\.[0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)"
_STRICT_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_STRICT_TIMESTAMP = _STRICT_DATE + r"[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"

# Casting to a known type: what the value may look like (blanks around allowed).
_INT = r"\s*[+-]?[0-9]+(\.0*)?\s*"
_REAL = r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*"
_DATE = r"\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\s*"
_TIMESTAMP = (
    r"\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?\s*"
)


class InvalidTypeError(IngestError, ValueError):
    """An override names a type civiclake does not cast strings to."""


def normalise_type(name: str, column: str) -> str:
    """The canonical DuckDB name of an override's type, or :class:`InvalidTypeError`."""
    text = " ".join(str(name).upper().split())
    text = _ALIASES.get(text, text)
    match = _DECIMAL.match(text)
    if match:
        precision, scale = int(match[1]), int(match[2])
        if 1 <= precision <= 38 and scale <= precision:
            return f"DECIMAL({precision},{scale})"
    elif text in ALLOWED_TYPES:
        return text
    raise InvalidTypeError(
        f"override for column `{column}`: {name!r} is not a type civiclake casts to"
        f"{did_you_mean(text, ALLOWED_TYPES)}. Allowed types: {', '.join(ALLOWED_TYPES)} "
        "(DECIMAL with precision 1–38 and scale ≤ precision)"
    )


def blank(value: str) -> str:
    """SQL: the value is NULL or only blanks (read as NULL by every typed column).

    ``ascii`` (the first character) keeps the costly ``trim`` off ordinary values.
    """
    return (
        f"({value} IS NULL OR (ascii({value}) IN (0, 9, 10, 13, 32) "
        f"AND trim({value}, ' \t\r\n') = ''))"
    )


def kind(value: str) -> str:
    """SQL: the narrowest inferred kind (index into :data:`INFERRED`), NULL for blanks.

    A failing cast costs 200–400 ns a value in DuckDB and a regular
    expression ~80 ns, a ``GLOB`` ~20 ns: so values are sorted by ``GLOB``
    shapes first and only cast once they have the shape (the cast still
    catches ``2024-02-30`` and numbers too large for BIGINT). A whole number
    must read back as itself (no ``+``, no leading zero).
    """
    v = value
    d = "[0-9]"
    date = f"{d * 4}-{d * 2}-{d * 2}"
    return (
        f"CASE WHEN {v} IS NULL THEN NULL "
        f"WHEN {v} GLOB '[-0-9]*' THEN CASE "
        f"WHEN NOT ({v} GLOB '?*[!0-9]*') AND TRY_CAST({v} AS BIGINT)::VARCHAR = {v} THEN 1 "
        f"WHEN {v} GLOB '{date}' AND TRY_CAST({v} AS DATE) IS NOT NULL THEN 3 "
        f"WHEN {v} GLOB '{date}[ T]{d * 2}:{d * 2}:{d * 2}*' AND (strlen({v}) = 19 "
        f"OR regexp_full_match({v}, {literal(_STRICT_TIMESTAMP)})) "
        f"AND TRY_CAST({v} AS TIMESTAMP) IS NOT NULL THEN 4 "
        f"WHEN NOT ({v} GLOB '*[!0-9.eE+-]*') AND regexp_full_match({v}, {literal(_STRICT_REAL)}) "
        f"AND isfinite(TRY_CAST({v} AS DOUBLE)) THEN 2 "
        "ELSE 5 END "
        f"WHEN {v} GLOB '[TtFf]*' AND lower({v}) IN ('true', 'false') THEN 0 "
        f"WHEN {blank(v)} THEN NULL "
        "ELSE 5 END"
    )


def combine(lowest: int | None, highest: int | None) -> str:
    """The type of a column whose values' kinds span ``lowest``..``highest``.

    Whole numbers and decimals make DOUBLE, dates and timestamps make
    TIMESTAMP; any other mix, and a column with no values, is VARCHAR.
    """
    if lowest is None or highest is None:
        return "VARCHAR"
    if lowest == highest:
        return INFERRED[lowest]
    if (lowest, highest) == (1, 2):
        return "DOUBLE"
    if (lowest, highest) == (3, 4):
        return "TIMESTAMP"
    return "VARCHAR"


def is_text(type_name: str) -> bool:
    return type_name in ("VARCHAR", "JSON")


def is_nested(type_name: str) -> bool:
    return type_name.endswith("]") or type_name.startswith(("STRUCT", "MAP", "UNION"))


def convert(value: str, type_name: str) -> str:
    """SQL: the value cast to the type, NULL when it does not cast (or is blank)."""
    if is_text(type_name):
        return value
    if is_nested(type_name):  # lists kept as JSON text in the records
        return f"TRY_CAST(TRY_CAST({value} AS JSON) AS {type_name})"
    return f"TRY_CAST({value} AS {type_name})"  # blanks cast to NULL


def accepts(value: str, type_name: str) -> str:
    """SQL: a non-blank value casts to the type without losing anything.

    A value made only of the characters the type's text needs is checked by
    its cast alone (a ``GLOB``, cheap); anything else must also match the
    type's pattern.
    """
    cast = convert(value, type_name)
    v, t = value, type_name
    if is_text(t):
        return "true"
    if t in INTEGERS:
        plain, shape = f"NOT ({v} GLOB '*[!0-9+-]*')", _INT
    elif t in ("DOUBLE", "FLOAT"):
        plain = f"NOT ({v} GLOB '*[!0-9.eE+-]*')"
        pattern = f"regexp_full_match({v}, {literal(_REAL)})"
        return f"coalesce(({plain} OR {pattern}) AND isfinite({cast}), false)"
    elif t.startswith("DECIMAL("):
        scale = int(t.rstrip(")").split(",")[1])
        fraction = f"[0-9]{{0,{scale}}}0*" if scale else "0*"
        plain, shape = "false", rf"\s*[+-]?([0-9]+(\.{fraction})?|\.{fraction})\s*"
    elif t == "DATE":
        plain, shape = f"NOT ({v} GLOB '*[!0-9-]*')", _DATE
    elif t.startswith("TIMESTAMP") and "TIME ZONE" not in t:
        # no offset: a '-' after the date part would be one (DuckDB would drop it)
        plain = f"NOT ({v} GLOB '*[!0-9:. T-]*') AND NOT ({v} GLOB '??????????*-*')"
        shape = _TIMESTAMP
    else:
        return f"({cast} IS NOT NULL)"
    return f"(({plain} OR regexp_full_match({v}, {literal(shape)})) AND {cast} IS NOT NULL)"


def fails(value: str, type_name: str) -> str:
    """SQL: a value is present but does not cast to the type."""
    if is_text(type_name):
        return "false"
    return f"(NOT {blank(value)} AND NOT {accepts(value, type_name)})"


def wider(type_name: str) -> str | None:
    """The type a column widens to when its new values do not fit (or None)."""
    if type_name in INTEGERS:
        return "DOUBLE"
    if type_name == "DATE":
        return "TIMESTAMP"
    return None
