"""Excel workbooks and JSON/NDJSON files: read by their own reader, typed in DuckDB.

Excel goes through ``fastexcel`` (Arrow out, no per-cell Python). Its type
inference *coerces* a value that does not fit the column's type to NULL
(``n/a`` in a column of numbers), which would lose data silently; so the
sheet is also read as text and a cell that has text but no typed value
rejects its row, with the text in the reason.

NDJSON is read by DuckDB in one pass. Only when that fails (a malformed
line) or the row count shows blank lines is the file walked line by line in
Python, to reject the bad lines by number and load the rest.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.ingest.duck import scalar
from civiclake.ingest.exceptions import BadFileError
from civiclake.ingest.files import sheets
from civiclake.ingest.files.readers import (
    ColumnRule,
    Parsed,
    ReadRequest,
    build_typed,
    check_types,
    is_text,
    normalise,
    override_rules,
)
from civiclake.naming import literal, quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


def read_excel(con: duckdb.DuckDBPyConnection, req: ReadRequest) -> Parsed:
    """The table of a workbook (see :mod:`.sheets` for which sheet, header and rows)."""
    import fastexcel
    import pyarrow as pa

    try:
        workbook = fastexcel.read_excel(str(req.path))
        layout = sheets.choose(workbook, req)
        sheet, header_row = layout.sheet, layout.header_row
        text = workbook.load_sheet(sheet, header_row=header_row, dtypes="string").to_arrow()
        excluded = sheets.non_data_rows(con, text)
        skip = sorted(e.index for e in excluded)
        typed = workbook.load_sheet(sheet, header_row=header_row, skip_rows=skip).to_arrow()
        if skip:
            text_all = text
            text = workbook.load_sheet(
                sheet, header_row=header_row, skip_rows=skip, dtypes="string"
            ).to_arrow()
    except fastexcel.FastExcelError as exc:
        raise BadFileError(
            f"{req.name}: cannot read it as an Excel workbook ({str(exc).splitlines()[0]}); "
            f"check it opens in Excel, or set `format:` in {req.config_file}"
        ) from None
    names = normalise(typed.schema.names, req)
    check_types(con, req)
    text_names = [f"__text_{i}" for i in range(len(names))]
    first_row = header_row + 2  # 1-based row of the first data row in Excel
    skipped = set(skip)
    kept = [i + first_row for i in range(len(skipped) + typed.num_rows) if i not in skipped]
    table = pa.Table.from_batches([typed]).rename_columns(names)
    for name, column in zip(text_names, text.columns, strict=True):
        table = table.append_column(name, column)
    table = table.append_column("_source_row", pa.array(kept, pa.int64()))
    con.register("sheet_rows", table)
    con.execute("CREATE TABLE staged AS SELECT * FROM sheet_rows")
    con.unregister("sheet_rows")
    raw_of = {n: quote(t) for n, t in zip(names, text_names, strict=True)}
    rules = override_rules(names, req.config.columns, raw_of)
    staged = con.table("staged")
    types = dict(zip(staged.columns, (str(t) for t in staged.types), strict=True))
    rules = [_coerced(rule, types[rule.name], raw_of[rule.name]) for rule in rules]
    raw_line = "to_json(struct_pack(" + ", ".join(f"{quote(n)} := {raw_of[n]}" for n in names)
    parsed = build_typed(con, rules, raw_line + "))::VARCHAR")
    parsed.notes.extend(layout.notes)
    if skip:
        _reject_layout(con, parsed, excluded, text_all, names, first_row)
    return parsed


def _reject_layout(
    con: duckdb.DuckDBPyConnection,
    parsed: Parsed,
    excluded: list[sheets.Excluded],
    text: pa.RecordBatch,
    names: list[str],
    first_row: int,
) -> None:
    """Blank and footer rows into ``rejects`` (trailing blank rows are not rows: dropped)."""
    for row in excluded:
        if not row.reason:
            continue
        cells = {n: text.column(i)[row.index].as_py() for i, n in enumerate(names)}
        con.execute(
            "INSERT INTO rejects VALUES (?, NULL, ?, ?, ?)",
            [row.index + first_row, row.error_type, row.reason, json.dumps(cells)],
        )
        parsed.rejected += 1


def _coerced(rule: ColumnRule, dtype: str, raw: str) -> ColumnRule:
    """Without an override, text the inferred type could not hold rejects the row."""
    if rule.bad or is_text(dtype) or dtype == '"NULL"' or rule.value != quote(rule.name):
        return rule
    bad = f"({quote(rule.name)} IS NULL AND {raw} IS NOT NULL AND trim({raw}) <> '')"
    return ColumnRule(rule.name, rule.value, bad, raw, dtype)


def read_json(con: duckdb.DuckDBPyConnection, req: ReadRequest, *, lines: bool) -> Parsed:
    """A JSON array of records (``lines=False``) or one record per line (NDJSON)."""
    import duckdb

    fmt = "newline_delimited" if lines else "auto"
    source = f"read_json({literal(str(req.path))}, format='{fmt}')"
    try:
        raw_names = con.sql(f"SELECT * FROM {source}").columns
        numbered = f"SELECT *, row_number() OVER () AS _source_row FROM {source}"
        con.execute(f"CREATE TABLE loaded AS {numbered}")
        if lines and _rows(con) != _line_count(req.path):
            raise _Fallback
    except (duckdb.Error, _Fallback) as exc:
        if not lines:
            raise BadFileError(
                f"{req.name}: not valid JSON ({str(exc).splitlines()[0]}); fix the file, or set "
                f"`format: ndjson` in {req.config_file} if it holds one record per line"
            ) from None
        con.execute("DROP TABLE IF EXISTS loaded")
        return _read_ndjson_lines(con, req)
    return _finish_json(con, req, raw_names, [])


class _Fallback(Exception):
    """Blank lines make row ordinals differ from line numbers: number lines exactly."""


def _rows(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(con, "SELECT count(*) FROM loaded")


def _line_count(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)


def _read_ndjson_lines(con: duckdb.DuckDBPyConnection, req: ReadRequest) -> Parsed:
    """The error path: check each line, reject bad ones by number, load the rest."""
    import pyarrow as pa

    good_lines: list[int] = []
    bad: list[tuple[int, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="civiclake-ndjson-") as tmp:
        clean = Path(tmp) / "good.ndjson"
        with req.path.open("rb") as src, clean.open("wb") as out:
            for number, line in enumerate(src, start=1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except ValueError as exc:
                    text = line.decode("utf-8", "replace").rstrip("\r\n")
                    bad.append((number, f"line {number} is not valid JSON: {exc}", text))
                    continue
                out.write(line if line.endswith(b"\n") else line + b"\n")
                good_lines.append(number)
        con.register("line_numbers", pa.table({"_source_row": pa.array(good_lines, pa.int64())}))
        source = f"read_json({literal(str(clean))}, format='newline_delimited')"
        raw_names: list[str] = []
        if good_lines:
            raw_names = con.sql(f"SELECT * FROM {source}").columns
            con.execute(
                f"CREATE TABLE loaded AS SELECT r.*, n._source_row FROM {source} r "
                "POSITIONAL JOIN line_numbers n"
            )
        else:
            con.execute("CREATE TABLE loaded (_source_row BIGINT)")
    return _finish_json(con, req, raw_names, bad)


def _finish_json(
    con: duckdb.DuckDBPyConnection,
    req: ReadRequest,
    raw_names: list[str],
    bad_lines: list[tuple[int, str, str]],
) -> Parsed:
    names = normalise(raw_names, req)
    check_types(con, req)
    renames = ", ".join(f"{quote(r)} AS {quote(n)}" for r, n in zip(raw_names, names, strict=True))
    con.execute(
        f"CREATE TABLE staged AS SELECT {renames + ', ' if renames else ''}_source_row FROM loaded"
    )
    rules = override_rules(names, req.config.columns)
    parsed = build_typed(con, rules, "to_json(s)::VARCHAR")
    for number, reason, text in bad_lines:
        con.execute(
            "INSERT INTO rejects VALUES (?, NULL, 'MALFORMED JSON', ?, ?)", [number, reason, text]
        )
    parsed.rejected += len(bad_lines)
    return parsed
