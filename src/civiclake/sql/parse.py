"""Exactly one read-only query, and the text that is run regenerated from its tree."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from civiclake.sql.exceptions import SqlRejected

if TYPE_CHECKING:
    from sqlglot import exp

DIALECT = "duckdb"

_FORBIDDEN_NODE_NAMES = frozenset({"Attach", "Detach", "Install", "Use", "Export"})


def parse_query(sql: str, *, max_chars: int | None = None) -> exp.Query:
    """``sql`` parsed as exactly one query (SELECT/WITH/UNION…) with nothing that writes.

    Refuses, with a :class:`SqlRejected` naming the rule: text past ``max_chars``,
    invisible control/format characters (NUL, bidi overrides), text that does not
    parse or nests too deeply, more or fewer than one statement, a statement that
    is not a query, and DDL/DML/``COPY``/``PRAGMA``/``SET``/``ATTACH`` anywhere inside.
    """
    import sqlglot
    from sqlglot import exp

    if max_chars is not None and len(sql) > max_chars:
        raise SqlRejected(
            "too_long", f"the SQL is {len(sql):,} characters; the limit is {max_chars:,}"
        )
    _check_characters(sql)
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        reason = str(first.get("description") or _first_line(exc)).split("<Token")[0].strip()
        raise SqlRejected(
            "parse_error",
            f"the SQL does not parse: {_first_line(exc)}",
            reason=reason,
            line=first.get("line"),
            column=first.get("col"),
        ) from None
    except sqlglot.errors.TokenError as exc:
        raise SqlRejected(
            "parse_error",
            f"the SQL does not parse: {_first_line(exc)}",
            reason=f"{_first_line(exc)} (an unclosed quote or comment?)",
        ) from None
    except RecursionError:
        raise SqlRejected("too_complex", "the SQL is nested too deeply to check") from None
    if len(statements) != 1:
        raise SqlRejected(
            "one_statement",
            f"send exactly one query (got {len(statements)} statements)",
            statements=len(statements),
        )
    query = statements[0]
    if not isinstance(query, exp.Query):
        kind = type(query).__name__.upper()
        raise SqlRejected(
            "not_a_query", f"only queries (SELECT/WITH) are allowed, not {kind}", kind=kind
        )
    forbidden = (exp.DML, exp.DDL, exp.Command, exp.Pragma, exp.Set, exp.Copy)
    try:
        for node in query.walk():
            if isinstance(node, forbidden) or type(node).__name__ in _FORBIDDEN_NODE_NAMES:
                raise SqlRejected(
                    "not_a_query", f"{type(node).__name__.upper()} is not allowed inside a query"
                )
    except RecursionError:
        raise SqlRejected("too_complex", "the SQL is nested too deeply to check") from None
    return query


def regenerate(query: exp.Expression | exp.Query) -> str:
    """The SQL to run: generated from the checked tree, comments dropped.

    What runs is what was checked; a comment trick or a parser difference in the
    original text cannot smuggle anything past the check.
    """
    try:
        return query.sql(dialect=DIALECT, comments=False)
    except RecursionError:
        raise SqlRejected("too_complex", "the SQL is nested too deeply to check") from None


def _check_characters(sql: str) -> None:
    for ch in sql:
        if ch in "\t\n\r":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            raise SqlRejected(
                "bad_character",
                f"the SQL contains the invisible character U+{ord(ch):04X}; remove it",
            )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
