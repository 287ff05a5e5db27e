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

from civiclake.config.suggest import did_you_mean
from civiclake.ingest.duck import scalar
from civiclake.ingest.exceptions import BadFileError
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


def read_excel(con: duckdb.DuckDBPyConnection, req: ReadRequest) -> Parsed:
    import fastexcel
    import pyarrow as pa

    opts = req.config.excel
    try:
        workbook = fastexcel.read_excel(str(req.path))
        sheet = _sheet(workbook.sheet_names, opts.sheet, req)
        typed = workbook.load_sheet(sheet, header_row=opts.header_row).to_arrow()
        text = workbook.load_sheet(sheet, header_row=opts.header_row, dtypes="string").to_arrow()
    except fastexcel.FastExcelError as exc:
        raise BadFileError(
            f"{req.name}: cannot read it as an Excel workbook ({str(exc).splitlines()[0]}); "
            f"check it opens in Excel, or set `format:` in {req.config_file}"
        ) from None
    names = normalise(typed.schema.names, req)
    check_types(con, req)
    text_names = [f"__text_{i}" for i in range(len(names))]
    table = pa.Table.from_batches([typed]).rename_columns(names)
    for name, column in zip(text_names, text.columns, strict=True):
        table = table.append_column(name, column)
    con.register("sheet_rows", table)
    first_row = opts.header_row + 2  # 1-based row of the first data row in Excel
    con.execute(
        f"CREATE TABLE staged AS SELECT *, row_number() OVER () + {first_row - 1} AS _source_row "
        "FROM sheet_rows"
    )
    con.unregister("sheet_rows")
    raw_of = {n: quote(t) for n, t in zip(names, text_names, strict=True)}
    rules = override_rules(names, req.config.columns, raw_of)
    staged = con.table("staged")
    types = dict(zip(staged.columns, (str(t) for t in staged.types), strict=True))
    rules = [_coerced(rule, types[rule.name], raw_of[rule.name]) for rule in rules]
    raw_line = "to_json(struct_pack(" + ", ".join(f"{quote(n)} := {raw_of[n]}" for n in names)
    return build_typed(con, rules, raw_line + "))::VARCHAR")


def _coerced(rule: ColumnRule, dtype: str, raw: str) -> ColumnRule:
    """Without an override, text the inferred type could not hold rejects the row."""
    if rule.bad or is_text(dtype) or dtype == '"NULL"' or rule.value != quote(rule.name):
        return rule
    bad = f"({quote(rule.name)} IS NULL AND {raw} IS NOT NULL AND trim({raw}) <> '')"
    return ColumnRule(rule.name, rule.value, bad, raw, dtype)


def _sheet(sheet_names: list[str], wanted: str | int | None, req: ReadRequest) -> str | int:
    if wanted is None:
        return 0
    if isinstance(wanted, int):
        if wanted >= len(sheet_names):
            raise BadFileError(
                f"{req.name} has {len(sheet_names)} sheet(s); `excel.sheet: {wanted}` in "
                f"{req.config_file} is out of range (sheets: {', '.join(sheet_names)})"
            )
        return wanted
    if wanted not in sheet_names:
        raise BadFileError(
            f"{req.name} has no sheet {wanted!r}{did_you_mean(wanted, sheet_names)}; its sheets: "
            f"{', '.join(sheet_names)}. Set `excel.sheet` in {req.config_file}"
        )
    return wanted


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
