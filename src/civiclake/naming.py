"""Names analysts see: department ids, SQL schema names, column names.

* A department id is lowercase with runs of non-alphanumerics turned into
  ``-`` (``Housing Repairs`` → ``housing-repairs``).
* Its SQL schema for a zone is ``<department with _>_<zone>``
  (``housing_repairs_refined``).
* Column names are snake_case ASCII: accents stripped, camelCase split,
  everything else turned into ``_`` (``Nom du Locataire`` → ``nom_du_locataire``,
  ``Balance (£)`` → ``balance``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

ZONES = ("landing", "raw", "refined", "trusted")
"""Zones in order of the data's journey. Landing holds files, not tables."""

TABLE_ZONES = ("raw", "refined", "trusted")

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def strip_accents(text: str) -> str:
    """``Café Ñandú`` → ``Cafe Nandu`` (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def department_id(name: str) -> str:
    """Normalise a department name to its id: ``Housing Repairs`` → ``housing-repairs``."""
    ident = _NON_ALNUM.sub("-", strip_accents(name).lower()).strip("-")
    if not ident:
        raise ValueError(f"department name {name!r} has no letters or digits")
    return ident


def sql_name(department: str) -> str:
    """The SQL-safe form of a department id: ``housing-repairs`` → ``housing_repairs``."""
    return department.replace("-", "_")


def schema_name(department: str, zone: str) -> str:
    """The SQL schema holding a department's datasets in one zone."""
    return f"{sql_name(department)}_{zone}"


def snake_case(name: str) -> str:
    """Normalise one column name to snake_case ASCII (empty input gives ``column``)."""
    text = strip_accents(str(name)).strip()
    text = _CAMEL.sub("_", text).lower()
    text = _NON_ALNUM.sub("_", text).strip("_")
    if not text:
        return "column"
    if text[0].isdigit():
        text = f"c_{text}"
    return text


def column_names(names: Iterable[str]) -> list[str]:
    """Normalise a header; duplicates after normalisation get ``_2``, ``_3``…"""
    seen: dict[str, int] = {}
    out: list[str] = []
    for raw in names:
        base = snake_case(raw)
        name = base
        while name in seen:
            seen[base] += 1
            name = f"{base}_{seen[base]}"
        seen.setdefault(name, 1)
        out.append(name)
    return out


def quote(ident: str) -> str:
    """``ident`` as a quoted SQL identifier (DuckDB, PostgreSQL and SQLite alike)."""
    return '"' + ident.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as a quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def is_identifier(name: str) -> bool:
    """True for a lowercase SQL identifier usable unquoted as a dataset name."""
    return bool(_IDENT.match(name))


HISTORY_SUFFIX = "__history"
"""``x__history``: every version of keyed dataset ``x``."""
AS_OF_SUFFIX = "_as_of"
"""``x_as_of(t)``: keyed dataset ``x`` as it was at ``t`` (a date: its end), by valid time."""
AS_KNOWN_SUFFIX = "_as_known"
"""``x_as_known(t)``: exactly what ``x`` showed at ``t`` (by recorded time); never changes."""

DIFF_SUFFIX = "_diff"
"""``x_diff(t1, t2)``: what changed in keyed dataset ``x`` between two times, key by key."""
CALL_SUFFIXES = (AS_OF_SUFFIX, AS_KNOWN_SUFFIX, DIFF_SUFFIX)
"""The table macros every keyed dataset ``x`` has: each one reads ``x``."""


def dataset_read(name: str, *, call: bool = False) -> str:
    """The dataset a table name reads: ``x`` for ``x__history`` and a call of ``x_as_of``,
    ``x_as_known`` or ``x_diff``."""
    for suffix in CALL_SUFFIXES:
        if call and name.lower().endswith(suffix):
            return name[: -len(suffix)]
    if name.lower().endswith(HISTORY_SUFFIX):
        return name[: -len(HISTORY_SUFFIX)]
    return name
