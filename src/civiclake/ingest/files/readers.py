"""Reading one file into DuckDB: typed good rows plus the rows it rejected.

Every format ends in the same shape on a fresh DuckDB connection, so the
source writes all of them the same way:

* view ``good``: the user's columns (snake_case, typed) and ``_source_row``;
* table ``rejects``: ``_source_row, column_name, error_type, reason, raw_line``,
  one row per rejected input row.

CSV typing is DuckDB's own (``read_csv`` with ``store_rejects``, in
:mod:`.delimited`). Excel and JSON are typed by their reader and then
overridden with ``TRY_CAST`` here, where a non-null value that fails the cast
rejects its row instead of silently turning into NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.config.suggest import did_you_mean
from civiclake.exceptions import ConfigError
from civiclake.ingest.duck import scalar
from civiclake.ingest.exceptions import BadFileError
from civiclake.ingest.files.config import FilesSourceConfig
from civiclake.naming import column_names, literal, quote

if TYPE_CHECKING:
    import duckdb

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".ods": "excel",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}

REJECTS_DDL = (
    "CREATE TABLE rejects (_source_row BIGINT, column_name VARCHAR, error_type VARCHAR, "
    "reason VARCHAR, raw_line VARCHAR)"
)

DELTA_TYPES = {
    "TIME": "VARCHAR",
    "TIME WITH TIME ZONE": "VARCHAR",
    '"NULL"': "VARCHAR",
    "NULL": "VARCHAR",
    "JSON": "VARCHAR",
    "UUID": "VARCHAR",
    "INTERVAL": "VARCHAR",
    "UTINYINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "UBIGINT": "DECIMAL(20,0)",
    "UHUGEINT": "VARCHAR",
    "HUGEINT": "DECIMAL(38,0)",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_NS": "TIMESTAMP",
}
"""DuckDB types Delta Lake cannot store, and what they are written as instead.

Delta timestamps are microseconds, so Excel's millisecond timestamps are widened."""


@dataclass(frozen=True)
class ReadRequest:
    """One file to read and what the messages about it should say."""

    path: Path
    """The archived copy (what is parsed is exactly what is kept)."""
    name: str
    """The file's name as received, used in messages."""
    config: FilesSourceConfig
    config_file: str
    """``sources/housing/rent_accounts.yaml``, for "set … in <file>" advice."""


@dataclass
class Parsed:
    """A file read into ``con``: view ``good`` and table ``rejects`` exist."""

    con: duckdb.DuckDBPyConnection
    rows: int
    rejected: int
    verify: Callable[[], bool] | None = None
    """Set when ``good`` was not checked beforehand (single pass): called once the
    rows have streamed, False means rows were rejected and the write must not commit.
    ``rows`` is then unknown until written."""
    first_row: int = 1
    """With ``verify``: ``good`` has no ``_source_row``; the stream numbers rows from this."""
    notes: list[str] = field(default_factory=list)
    """What the reader decided that the step's notes should say (the sheet it chose)."""


def detect_format(req: ReadRequest) -> str:
    if req.config.format != "auto":
        return req.config.format
    fmt = EXTENSIONS.get(req.path.suffix.lower())
    if fmt is None:
        raise BadFileError(
            f"{req.name}: cannot tell its format from the extension {req.path.suffix!r}; "
            f"set `format:` (csv, excel, json or ndjson) in {req.config_file}"
        )
    return fmt


def normalise(raw: Sequence[str], req: ReadRequest) -> list[str]:
    """snake_case names, old ones renamed (``renames:``); every override must name one."""
    names = renamed(column_names(raw), req)
    for column in req.config.columns:
        if column not in names:
            raise ConfigError(
                f"{req.config_file}, key `columns.{column}`: {req.name} has no column "
                f"`{column}`{did_you_mean(column, names)}. Its columns: {', '.join(names)}"
            )
    return names


def renamed(names: list[str], req: ReadRequest) -> list[str]:
    """``names`` with ``renames:`` applied; a file holding an old name and its new one fails."""
    renames = req.config.renames
    out = [renames.get(n, n) for n in names]
    for old, new in renames.items():
        if old in names and new in names:
            raise BadFileError(
                f"{req.name} has both `{old}` and `{new}`, which `renames:` in "
                f"{req.config_file} makes one column; remove `{old}: {new}` from `renames:` "
                "if they are different columns, or fix the file"
            )
    return out


def check_types(con: duckdb.DuckDBPyConnection, req: ReadRequest) -> None:
    """An override naming a type DuckDB does not know is a config error, not a bad file."""
    import duckdb

    for column, type_name in req.config.columns.items():
        try:
            con.execute(f"SELECT CAST(NULL AS {type_name})").fetchall()
        except duckdb.Error as exc:
            raise ConfigError(
                f"{req.config_file}, key `columns.{column}`: {type_name!r} is not a DuckDB type "
                f"({str(exc).splitlines()[0]})"
            ) from None


def is_text(type_name: str) -> bool:
    return type_name.upper() in ("VARCHAR", "TEXT", "STRING")


@dataclass(frozen=True)
class ColumnRule:
    """How one column of a staged table becomes a typed column (and when its row is bad)."""

    name: str
    value: str
    bad: str | None = None
    raw: str | None = None
    expected: str = ""


def override_rules(
    names: Iterable[str], overrides: dict[str, str], raw_of: dict[str, str] | None = None
) -> list[ColumnRule]:
    """``TRY_CAST`` overrides: a non-null value that fails its cast is a bad row, not a NULL."""
    rules = []
    for name in names:
        col = quote(name)
        raw = (raw_of or {}).get(name, f"CAST({col} AS VARCHAR)")
        target = overrides.get(name)
        if target is None:
            rules.append(ColumnRule(name, col))
        elif is_text(target):
            rules.append(ColumnRule(name, raw))
        else:
            value = f"TRY_CAST({col} AS {target})"
            if raw_of and name in raw_of:
                value = f"coalesce({value}, TRY_CAST({raw} AS {target}))"
            bad = f"({raw} IS NOT NULL AND trim({raw}) <> '' AND {value} IS NULL)"
            rules.append(ColumnRule(name, value, bad, raw, target))
    return rules


def build_typed(
    con: duckdb.DuckDBPyConnection, rules: Sequence[ColumnRule], raw_line: str
) -> Parsed:
    """Views ``good`` and ``rejects`` over table ``staged`` (which has ``_source_row``)."""
    con.execute(REJECTS_DDL)
    checked = [r for r in rules if r.bad]
    selects = ", ".join(f"{r.value} AS {quote(r.name)}" for r in rules)
    any_bad = " OR ".join(r.bad for r in checked if r.bad) or "false"
    con.execute(
        f"CREATE VIEW good AS SELECT {selects}, _source_row FROM staged "
        f"WHERE NOT coalesce({any_bad}, false)"
    )
    if checked:
        parts = [
            f"SELECT _source_row, {i} AS ord, {literal(r.name)} AS column_name, "
            f"'CAST' AS error_type, 'could not convert ' || {r.raw} || ' to {r.expected} "
            f"in column {r.name}' AS reason, {raw_line} AS raw_line FROM staged s WHERE {r.bad}"
            for i, r in enumerate(checked)
        ]
        con.execute(
            "INSERT INTO rejects SELECT _source_row, arg_min(column_name, ord), "
            "arg_min(error_type, ord), string_agg(reason, '; ' ORDER BY ord), "
            f"arg_min(raw_line, ord) FROM ({' UNION ALL '.join(parts)}) GROUP BY _source_row"
        )
    return counted(con)


def counted(con: duckdb.DuckDBPyConnection) -> Parsed:
    rows = scalar(con, "SELECT count(*) FROM good")
    rejected = scalar(con, "SELECT count(*) FROM rejects")
    return Parsed(con, rows, rejected)
