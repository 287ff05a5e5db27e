"""API pages (JSON arrays of records) read into one table of strings, in DuckDB.

Three passes over the JSON, all in DuckDB's C++ reader: ``read_json_objects``
splits the pages into records (table ``recs``); ``json_keys`` finds the
union of their keys in order of first appearance, and checks that every
record is an object; one ``json_transform`` per record extracts every kept
value as text, straight into the Arrow result. ``json_transform`` names its
struct's fields case-insensitively, so when two keys differ only in case (or
one is empty) ``json_extract_string`` with a list of JSON pointers does the
same work, a little slower.

Only a record holding a ``{`` past its first character can hold a nested
object. When one does, the extracted texts are kept as table ``vals`` (the
record text freed) and objects are found and split from those texts, which
costs nothing for the columns that hold none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from civiclake.ingest.duck import first_row
from civiclake.ingest.exceptions import BadFileError, IngestError
from civiclake.naming import column_names, literal, quote
from civiclake.storage.connections import DEFAULT, Connections

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

NestedMode = Literal["flatten", "struct"]

_SMALL = 4096
"""Bytes read from the end of each page to check it (all of a page this small)."""

_EMPTY_ARRAY = re.compile(rb"\[\s*\]")

_MAX_DEPTH = 8
"""Objects nested deeper than this stay one JSON string column."""

_BIG_OBJECT = 1 << 30
"""``maximum_object_size`` for the retry when a record passes DuckDB's 16 MB default
(a large buffer slows every read, so it is only asked for when needed)."""


@dataclass(frozen=True)
class _Field:
    """One key: a string leaf, or an object whose fields are read from its text."""

    name: str
    pointer: str
    """JSON pointer inside the top-level column's text (``""`` for the column)."""
    children: tuple[_Field, ...] | None = None


@dataclass(frozen=True)
class _Column:
    """A top-level key, extracted into column ``c<index>`` of table ``vals``."""

    index: int
    field: _Field

    @property
    def text(self) -> str:
        return f"c{self.index}"


def read_json_pages(
    paths: Sequence[Path],
    *,
    drop: Sequence[str] = (),
    nested: NestedMode = "flatten",
    connections: Connections = DEFAULT,
) -> pa.Table:
    """One table of string columns from API page files (see :mod:`civiclake.ingest.records`)."""
    if nested not in ("flatten", "struct"):
        raise ValueError(f"nested must be 'flatten' or 'struct', not {nested!r}")
    files = _pages_with_records(paths)
    if not files:
        return _empty()
    con = connections.open()
    try:
        _load(con, files)
        columns, source = _extract(con, set(drop))
        return _table(con, columns, nested, source, files)
    finally:
        con.close()


def _pages_with_records(paths: Sequence[Path]) -> list[str]:
    """The paths worth reading: empty pages (HTTP 202, ``[]``) are skipped.

    DuckDB accepts a page cut short after a comma (``[{...},``) as complete,
    so each file's last bytes are checked here: a page must end with ``]``.
    """
    files: list[str] = []
    seen: set[str] = set()
    for path in paths:
        name = str(path)
        if name in seen:
            raise IngestError(
                f"page file {name} is listed twice; each page must be read once, or its "
                "records would be loaded twice"
            )
        seen.add(name)
        try:
            with Path(path).open("rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - _SMALL))
                tail = fh.read().strip()
                if not tail and size > _SMALL:  # trailing blanks: look at the whole file
                    fh.seek(0)
                    tail = fh.read().strip()[-_SMALL:]
        except OSError as exc:
            raise BadFileError(f"page file {name} cannot be read: {exc.strerror or exc}") from None
        if not tail or (size <= _SMALL and _EMPTY_ARRAY.fullmatch(tail)):
            continue
        if not tail.endswith(b"]"):
            raise BadFileError(
                f"page file {name} does not end with `]` (it ends with {tail[-20:]!r}): it is "
                "not a complete JSON array, probably a response cut short. Fetch the page again"
            )
        files.append(name)
    return files


def _load(con: duckdb.DuckDBPyConnection, files: list[str]) -> None:
    """Table ``recs`` (``f`` file, ``j`` record), in file order then array order."""
    import duckdb

    listed = "[" + ", ".join(literal(_no_glob(f)) for f in files) + "]"
    for size in (None, _BIG_OBJECT):
        option = f", maximum_object_size={size}" if size else ""
        try:
            # DuckDB keeps file and array order (preserve_insertion_order), so a
            # record's rowid is its position across the pages.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE recs AS SELECT filename AS f, json AS j "
                f"FROM read_json_objects({listed}, format='array', filename=true{option})"
            )
            break
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            if size is None and "maximum_object_size" in message:
                continue
            raise BadFileError(
                f"a page file is not a JSON array of records: {message}. Nothing was loaded; "
                "fetch the page again"
            ) from None


def _no_glob(path: str) -> str:
    """The path as a DuckDB file pattern matching only itself (``p[1].json``)."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in path)


def _top_keys(con: duckdb.DuckDBPyConnection) -> tuple[list[str], bool]:
    """The records' keys (see :func:`_keys`), and whether some record holds a ``{``
    after its first character (so may hold a nested object). One pass, which
    also checks that every element of every page is an object."""
    con.execute(
        "CREATE TEMP TABLE key_lists AS SELECT json_keys(j) AS ks, min(rowid) AS rn, "
        "count_if(NOT starts_with(j::VARCHAR, '{')) AS bad, "
        "bool_or(contains(substr(j::VARCHAR, 2), '{')) AS deep FROM recs GROUP BY ks"
    )
    checks = first_row(con, "SELECT sum(bad), coalesce(bool_or(deep), false) FROM key_lists")
    assert checks is not None
    if checks[0]:
        where = first_row(
            con,
            "SELECT f, rowid - (SELECT min(rowid) FROM recs r WHERE r.f = recs.f) + 1, "
            "left(j::VARCHAR, 40) FROM recs WHERE NOT starts_with(j::VARCHAR, '{') "
            "ORDER BY rowid LIMIT 1",
        )
        assert where is not None
        raise BadFileError(
            f"page file {where[0]}, element {where[1]}: {where[2]!r} is not a JSON object; "
            "a page must be an array of records"
        )
    return _ordered(con, "key_lists"), bool(checks[1])


def _extract(con: duckdb.DuckDBPyConnection, drop: set[str]) -> tuple[list[_Column], str]:
    """The top-level columns, and SQL for rows of ``rn``, ``f`` and their texts ``c<i>``.

    When records may hold objects, those rows are kept as table ``vals`` (and
    ``recs`` dropped) to find the objects' fields; otherwise the final query
    reads the records once, straight to Arrow.
    """
    keys, maybe_nested = _top_keys(con)
    top = _keep(keys, "", None, drop)
    kept = [key for key, *_ in top]
    values: list[str] = []
    reader = "NULL AS nothing"  # no keys at all: records of lineage only
    if kept and len({key.lower() for key in kept}) == len(kept) and "" not in kept:
        # json_transform is the faster reader, but its struct's names are case-insensitive
        structure = json.dumps(dict.fromkeys(kept, "VARCHAR"))
        values = [f"struct_extract(s, {literal(key)})" for key in kept]
        reader = f"json_transform(j, {literal(structure)}) AS s"
    elif kept:
        pointers = "[" + ", ".join(literal(p) for _, _, p, _ in top) + "]"
        values = [f"l[{i}]" for i in range(1, len(top) + 1)]
        reader = f"json_extract_string(j, {pointers}) AS l"
    texts = "".join(f", nullif({v}, '') AS c{i}" for i, v in enumerate(values, start=1))
    source = f"(SELECT rn, f{texts} FROM (SELECT rowid AS rn, f, {reader} FROM recs))"
    columns = [_Column(i, _Field(name, "")) for i, (_, name, _, _) in enumerate(top, start=1)]
    if not (top and maybe_nested):
        return columns, source
    con.execute(f"CREATE TEMP TABLE vals AS SELECT * FROM {source}")
    con.execute("DROP TABLE recs")
    objects = _objects(con, [c.text for c in columns])
    split = []
    for column, (_, _, _, path) in zip(columns, top, strict=True):
        if column.text not in objects:
            split.append(column)
        elif (children := _fields(con, column.text, "", path, drop, depth=1)) != ():
            split.append(_Column(column.index, _Field(column.field.name, "", children)))
    return split, "vals"


def _fields(
    con: duckdb.DuckDBPyConnection,
    text: str,
    pointer: str,
    parent: tuple[str, str],
    drop: set[str],
    *,
    depth: int,
) -> tuple[_Field, ...] | None:
    """The fields of the objects at ``pointer`` in column ``text`` of ``vals``.

    None when the objects are all empty (the key stays one text column, ``{}``);
    ``()`` when every field was dropped (the key goes too).
    """
    keys_of = f"json_keys({text}, {literal(pointer)})" if pointer else f"json_keys({text})"
    keys = _keys(con, "vals", keys_of)
    if not keys:
        return None
    kept = _keep(keys, pointer, parent, drop)
    objects: set[str] = set()
    if kept and depth < _MAX_DEPTH:
        listed = "[" + ", ".join(literal(p) for _, _, p, _ in kept) + "]"
        values = [f"l[{i}]" for i in range(1, len(kept) + 1)]
        found = _objects(
            con, values, f"(SELECT json_extract_string({text}, {listed}) AS l FROM vals)"
        )
        objects = {kept[values.index(v)][2] for v in found}
    fields = []
    for _, name, ptr, path in kept:
        children = None
        if ptr in objects:
            children = _fields(con, text, ptr, path, drop, depth=depth + 1)
        if children != ():
            fields.append(_Field(name, ptr, children))
    return tuple(fields)


def _keys(con: duckdb.DuckDBPyConnection, table: str, keys_of: str) -> list[str]:
    """The keys ``keys_of`` finds in the rows of ``table`` (see :func:`_ordered`)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE key_lists AS "
        f"SELECT {keys_of} AS ks, min(rowid) AS rn FROM {table} GROUP BY ks"
    )
    return _ordered(con, "key_lists")


def _ordered(con: duckdb.DuckDBPyConnection, lists: str) -> list[str]:
    """Every key of the distinct key lists, ordered by the first record (then the first
    position) it appears in."""
    rows = con.execute(
        "SELECT k FROM (SELECT rn, unnest(ks) AS k, generate_subscripts(ks, 1) AS i "
        f"FROM {lists}) GROUP BY k ORDER BY min([rn, i])"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _keep(
    keys: list[str], pointer: str, parent: tuple[str, str] | None, drop: set[str]
) -> list[tuple[str, str, str, tuple[str, str]]]:
    """``(key, name, pointer, (dotted path, flattened name))`` of the keys not dropped.

    A key is dropped by its name at the top level (original or normalised),
    by ``parent.key`` or ``parent__key`` below it.
    """
    kept = []
    for key, name in zip(keys, column_names(keys), strict=True):
        path = (f"{parent[0]}.{key}", f"{parent[1]}__{name}") if parent else (key, name)
        if not drop & set(path):
            kept.append((key, name, f"{pointer}/{_escape(key)}", path))
    return kept


def _objects(con: duckdb.DuckDBPyConnection, values: list[str], source: str = "vals") -> set[str]:
    """The value expressions whose every non-null value is a JSON object.

    A key that is an object in some records and not in others stays one
    string column, the objects as JSON text. (A string holding a JSON object
    reads as that object.) Valid JSON starting with ``{`` is an object, so
    only those values are parsed.
    """
    if not values:
        return set()
    counts = ", ".join(
        f"count({v}), count_if(CASE WHEN starts_with({v}, '{{') THEN json_valid({v}) END)"
        for v in values
    )
    row = first_row(con, f"SELECT {counts} FROM {source}")
    assert row is not None
    return {v for i, v in enumerate(values) if row[2 * i] and row[2 * i] == row[2 * i + 1]}


def _escape(key: str) -> str:
    """A key as one JSON pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _table(
    con: duckdb.DuckDBPyConnection,
    columns: list[_Column],
    nested: NestedMode,
    source: str,
    files: list[str],
) -> pa.Table:
    """The final table from ``source`` (see :func:`_extract`): objects split, lineage added."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lists: list[str] = []  # per object column: json_extract_string(c, [pointers]) AS x<i>
    selects: list[str] = []
    for column in columns:
        pointers: list[str] = []

        def slot(field: _Field, column: _Column = column, pointers: list[str] = pointers) -> str:
            if not field.pointer:
                return column.text
            pointers.append(field.pointer)
            return f"x{column.index}[{len(pointers)}]"

        def flat(field: _Field, prefix: str) -> list[str]:
            name = prefix + field.name
            if field.children is None:
                return [f"nullif({slot(field)}, '') AS {quote(name)}"]
            return [col for child in field.children for col in flat(child, name + "__")]

        def struct(field: _Field) -> str:
            if field.children is None:
                return f"nullif({slot(field)}, '')"
            whole = slot(field)
            packed = ", ".join(f"{quote(c.name)} := {struct(c)}" for c in field.children)
            return f"CASE WHEN {whole} IS NULL THEN NULL ELSE struct_pack({packed}) END"

        if nested == "flatten" or column.field.children is None:
            selects += flat(column.field, "")
        else:
            selects.append(f"{struct(column.field)} AS {quote(column.field.name)}")
        if pointers:
            listed = "[" + ", ".join(literal(p) for p in pointers) + "]"
            lists.append(f"json_extract_string({column.text}, {listed}) AS x{column.index}")
    rows = f"(SELECT *{''.join(', ' + x for x in lists)} FROM {source})"
    table = con.sql(f"SELECT {', '.join(['rn', *selects])} FROM {rows}").to_arrow_table()
    if not pc.all(pc.equal(table["rn"], ordinals(table.num_rows))).as_py():
        table = table.take(pc.sort_indices(table["rn"]))  # not expected: DuckDB keeps order
    table = table.drop_columns(["rn"])

    kept = "vals" if source == "vals" else "recs"
    pages = con.execute(
        f"SELECT f, count(*), min(rowid) FROM {kept} GROUP BY f ORDER BY 3"
    ).fetchall()
    names = [str(f) for f, _, _ in pages]
    if len(names) == len(files):  # every page read has records: the paths as given
        names = files
    ends = pc.cumulative_sum(pa.array([int(n) for _, n, _ in pages], pa.int64()))
    file_of = pa.RunEndEncodedArray.from_arrays(ends, pa.array(names, pa.string()))
    first = pa.RunEndEncodedArray.from_arrays(ends, pa.array([int(s) for *_, s in pages]))
    position = pc.add(pc.subtract(ordinals(table.num_rows), pc.run_end_decode(first)), 1)
    table = table.append_column("_source_file", pc.run_end_decode(file_of))
    return table.append_column("_source_row", position.cast(pa.int64()))


def ordinals(n: int) -> pa.Array:
    """0, 1, …, n-1 (no numpy needed)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def _empty() -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {"_source_file": pa.array([], pa.string()), "_source_row": pa.array([], pa.int64())}
    )
