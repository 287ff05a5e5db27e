"""Portable SQL: a job's DuckDB SQL in another engine's dialect, via sqlglot.

Jobs are written in DuckDB's dialect (``engine.dialect``); the Spark engine
receives them transpiled. Transpiling is not proof of equal results (a cast
of a double to INT rounds in DuckDB and truncates in Spark), but a query
sqlglot cannot express in the target dialect is refused here, loudly, rather
than run differently.
"""

from __future__ import annotations

from civiclake.jobs.exceptions import JobDefinitionError


def transpile(sql: str, to: str = "spark", *, read: str = "duckdb", where: str = "SQL") -> str:
    """``sql`` (one query in dialect ``read``) rewritten for dialect ``to``."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

    try:
        statements = sqlglot.transpile(sql, read=read, write=to, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise JobDefinitionError(
            f"{where}: cannot be written in {to}'s dialect: {exc}. Use functions both "
            "engines share, or keep this job on the DuckDB engine"
        ) from None
    except (ParseError, TokenError) as exc:
        raise JobDefinitionError(f"{where}: the SQL does not parse as {read}: {exc}") from None
    except ValueError as exc:  # an unknown dialect name
        raise JobDefinitionError(f"{where}: {exc}") from None
    statements = [s for s in statements if s.strip()]
    if len(statements) != 1:
        raise JobDefinitionError(f"{where}: expected one query, found {len(statements)}")
    return statements[0]
