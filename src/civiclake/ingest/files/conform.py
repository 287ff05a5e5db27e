"""Fitting a new file's columns to the raw table the earlier files made.

A monthly export's inferred types drift: a column of whole numbers one
month holds decimals the next, or is empty and reads as text. delta-rs,
asked to append with ``schema_mode="merge"``, casts silently to the table's
type — ``1.5`` into a ``BIGINT`` column is stored as ``1`` (measured with
deltalake 1.6). So every column whose type differs is decided here, before
writing:

* lossless widenings (``INTEGER`` → ``BIGINT``/``DOUBLE``, ``DATE`` →
  ``TIMESTAMP``, anything → ``VARCHAR``) are cast in DuckDB;
* text into a typed column is cast strictly: an empty column passes, a real
  value that does not parse fails the file with DuckDB's message;
* anything else (``DOUBLE`` into ``BIGINT``) is an error naming both types
  and the ``columns:`` override that settles it.

New columns need nothing: Delta adds them and older rows read as NULL.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from civiclake.ingest.duck import duckdb_type
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files.readers import quote
from civiclake.lineage import ALL as LINEAGE

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


_INTS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT")


def widens(new: str, old: str) -> bool:
    """True when every ``new`` value has an exact ``old`` value (DuckDB type names)."""
    if new in _INTS and old in _INTS:
        return _INTS.index(new) <= _INTS.index(old)
    if new in (*_INTS, "FLOAT") and old == "DOUBLE":
        return True  # exact up to 2**53, far beyond any count or amount in a council export
    if new == "DATE" and old.startswith("TIMESTAMP"):
        return True
    if new.startswith("DECIMAL(") and old.startswith("DECIMAL("):
        (p1, s1), (p2, s2) = (_precision(new), _precision(old))
        return s1 == s2 and p1 <= p2
    return new == '"NULL"'


def _precision(decimal: str) -> tuple[int, int]:
    p, _, s = decimal.removeprefix("DECIMAL(").removesuffix(")").partition(",")
    return int(p), int(s)


def conform(
    new: dict[str, str], table: pa.Schema | None, *, file: str, dataset: str, config_file: str
) -> dict[str, str]:
    """Casts (column → DuckDB type) that make ``new`` (name → DuckDB type) fit ``table``.

    Types come from the query's binding, so nothing is read to decide.
    """
    if table is None:
        return {}
    casts: dict[str, str] = {}
    problems = []
    for name, new_type in new.items():
        if name not in table.names:
            continue
        old = table.field(name).type
        target = duckdb_type(old)
        if target == new_type:
            continue
        if target and (target == "VARCHAR" or new_type == "VARCHAR" or widens(new_type, target)):
            casts[name] = target
            continue
        problems.append(
            f"column `{name}` is {new_type} in {file} but {target or old} in {dataset}; "
            f"add `columns: {{{name}: {target or 'VARCHAR'}}}` to {config_file} so every "
            f"file is read as {target or 'VARCHAR'} (values that do not fit go to "
            f"{dataset}__rejected)"
        )
    if problems:
        raise IngestError(
            "; ".join(problems)
            + ". Nothing was loaded from this file; it will be retried on the next run."
        )
    return casts


def likely_renames(
    new: dict[str, str], table: pa.Schema | None, *, file: str, dataset: str, config_file: str
) -> list[str]:
    """Notes for table columns ``new`` (name → DuckDB type) lacks while it has a new column
    of the same type: probably a rename the config does not know (``renames:``)."""
    if table is None:
        return []
    gone = [n for n in table.names if n not in new and n not in LINEAGE]
    added = [n for n in new if n not in table.names and n not in LINEAGE]
    notes = []
    for old in gone:
        kind = duckdb_type(table.field(old).type)
        same = [n for n in added if new[n] == kind]
        if not same:
            continue
        guess = max(same, key=lambda n: difflib.SequenceMatcher(None, old, n).ratio())
        added.remove(guess)
        notes.append(
            f"{file}: column `{old}` of {dataset} is missing and `{guess}` ({kind}) is new; "
            f"if it was renamed, add `renames: {{{old}: {guess}}}` to {config_file}"
        )
    return notes


def check_text_casts(
    con: duckdb.DuckDBPyConnection,
    query: str,
    new: dict[str, str],
    casts: dict[str, str],
    *,
    file: str,
    dataset: str,
    config_file: str,
) -> None:
    """Text cast into a typed column must parse in full; find a value that does not first.

    Checked before writing (an extra read, only in this case): a cast failing
    mid-stream would surface from inside delta-rs with DuckDB's message buried.
    """
    for name, target in casts.items():
        if new.get(name) != "VARCHAR" or target == "VARCHAR":
            continue
        col = quote(name)
        bad = con.execute(
            f"SELECT {col} FROM ({query}) WHERE {col} IS NOT NULL "
            f"AND TRY_CAST({col} AS {target}) IS NULL LIMIT 1"
        ).fetchall()
        if bad:
            raise IngestError(
                f"{file}: column `{name}` holds {bad[0][0]!r}, which is not a {target} like the "
                f"column in {dataset}. Nothing was loaded from this file; add `columns: "
                f"{{{name}: {target}}}` to {config_file} to send such rows to "
                f"{dataset}__rejected instead, or fix the file"
            )
