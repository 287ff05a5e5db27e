"""Where the table is in a workbook: which sheet, which header row, which rows are data.

Council exports put a cover or notes sheet first, title lines above the header,
blank rows between groups and totals at the bottom. Read naively, the cover
sheet is the dataset and "Total" is a tenancy. So, unless the config says:

* the **header** is the first row whose filled cells are at least three
  quarters of the sheet's width, mostly distinct and none a number, date or
  boolean, with a filled row below it (an explicit ``excel.header_row`` wins);
* the **sheet** is the first whose header has two columns or more and rows under it
  (else, in turn: a header of two or more with no rows — an export of an empty month —
  then a one-column table), or, with ``excel.sheet_containing``, the first whose header
  has those columns;
* a **blank row** inside the data, and a **footer row** — a label such as
  "Total", "Grand total" or "Sum" beside numbers only, or up to three rows of a
  label and numbers after the last blank row, narrower than the data — are not
  loaded: they go to ``__rejected`` with the reason. Blank rows after the last
  filled one are not rows at all and are dropped.

Header and sheet are found on the first :data:`SAMPLE_ROWS` rows of each sheet
as text (small, in Python); the row shapes are measured in DuckDB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from civiclake.config.suggest import did_you_mean
from civiclake.ingest.exceptions import BadFileError
from civiclake.ingest.files.readers import ReadRequest
from civiclake.naming import column_names, literal, quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

SAMPLE_ROWS = 50
"""Rows of each sheet looked at to find its header."""
MAX_FOOTER_ROWS = 3
"""A label-and-numbers block after the last blank row longer than this is data."""

_VALUE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?|\d{1,2}:\d{2}(:\d{2})?|true|false)$",
    re.IGNORECASE,
)
"""How fastexcel writes a date, time or boolean cell as text: not a column name."""
_FOOTER_LABEL = r"^((grand|sub)[ -]?)?totals?\b|^sum\b"
"""A footer's label, when numbers stand beside it ("Total arrears", "Sum")."""
_FOOTER_WORD = r"^((grand|sub)[ -]?)?totals?:?$|^sum:?$"
"""A footer's label alone on its row ("Total"); "Total Housing Ltd" alone is data."""


@dataclass(frozen=True)
class Layout:
    """Where one workbook's table is."""

    sheet: str | int
    header_row: int
    """0-based row of the column names."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Excluded:
    """A row under the header that is not data: its 0-based index below the header."""

    index: int
    error_type: str
    reason: str


def _filled(row: Sequence[str | None]) -> list[str]:
    return [c.strip() for c in row if c is not None and c.strip()]


def _is_value(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return _VALUE.match(cell) is not None
    return True


def find_header(rows: Sequence[Sequence[str | None]], *, data: bool = True) -> int | None:
    """The 0-based header row of a sheet's first rows (as text), None when none looks like one.

    ``data``: the header must have a filled row below it (``False``: an export of no rows).
    """
    width = max((len(_filled(r)) for r in rows), default=0)
    need = max(1, math.ceil(0.75 * width))
    for i, row in enumerate(rows):
        cells = _filled(row)
        if (
            len(cells) >= need
            and len(set(cells)) * 2 > len(cells)  # mostly distinct: "Amount", "Amount" happens
            and not any(_is_value(c) for c in cells)
            and (not data or any(_filled(r) for r in rows[i + 1 :]))
        ):
            return i
    return None


@dataclass(frozen=True)
class _Table:
    """A sheet's header as found: its row and its columns' normalised names."""

    header_row: int
    names: list[str]
    has_data: bool


def choose(workbook: Any, req: ReadRequest) -> Layout:
    """The sheet and header row to read (``workbook``: a ``fastexcel.ExcelReader``)."""
    opts = req.config.excel
    sheet_names: list[str] = list(workbook.sheet_names)
    if opts.sheet is not None:
        sheet = _named(sheet_names, opts.sheet, req)
        if opts.header_row is not None:
            return Layout(sheet, opts.header_row)
        table = _table(workbook, sheet, req)
        if table is None:
            raise BadFileError(
                f"{req.name}, sheet {_label(sheet_names, sheet)}: no row looks like a header "
                f"(distinct names above data rows). Set `excel.header_row` (0-based) in "
                f"{req.config_file}"
            )
        notes = [] if table.header_row == 0 else [_loaded(req, sheet_names, sheet, table)]
        return Layout(sheet, table.header_row, notes)
    tables = {name: _table(workbook, name, req) for name in sheet_names}
    if opts.sheet_containing is not None:
        return _containing(tables, opts.sheet_containing, req)
    # a wide table, even with no rows this month, before a narrow one (a cover sheet's title)
    found = sorted(
        (n for n, t in tables.items() if t is not None and (t.has_data or len(t.names) > 1)),
        key=lambda n: _rank(tables[n]),
    )
    if not found:
        raise BadFileError(
            f"{req.name}: no sheet looks like a table (a header row with data under it); its "
            f"sheets: {', '.join(sheet_names)}. Set `excel.sheet` and `excel.header_row` in "
            f"{req.config_file}"
        )
    sheet = found[0]
    table = tables[sheet]
    assert table is not None
    notes = []
    if len(sheet_names) > 1 or table.header_row:
        skipped = [f"sheet {_label(sheet_names, n)} holds no table" for n in sheet_names]
        note = "; ".join(
            [_loaded(req, sheet_names, sheet, table), *skipped[: sheet_names.index(sheet)]]
        )
        notes.append(note)
    return Layout(sheet, table.header_row, notes)


def _containing(tables: dict[str, _Table | None], wanted: list[str], req: ReadRequest) -> Layout:
    sheet_names = list(tables)
    for name, table in tables.items():
        if table is not None and set(wanted) <= set(table.names):
            return Layout(name, table.header_row, [_loaded(req, sheet_names, name, table)])
    found = "; ".join(
        f"sheet {_label(sheet_names, n)}: " + (", ".join(t.names) if t else "no table")
        for n, t in tables.items()
    )
    raise BadFileError(
        f"{req.name}: no sheet has the columns {', '.join(wanted)} (`excel.sheet_containing` "
        f"in {req.config_file}). Its sheets' columns — {found}"
    )


def _loaded(req: ReadRequest, sheet_names: list[str], sheet: str | int, table: _Table) -> str:
    return (
        f"{req.name}: loaded sheet {_label(sheet_names, sheet)} "
        f"(header on row {table.header_row + 1})"
    )


def _label(sheet_names: list[str], sheet: str | int) -> str:
    return repr(sheet_names[sheet] if isinstance(sheet, int) else sheet)


def _table(workbook: Any, sheet: str | int, req: ReadRequest) -> _Table | None:
    """The header of one sheet, from its first rows; None when it holds no table."""
    import fastexcel

    header_row = req.config.excel.header_row
    n_rows = SAMPLE_ROWS if header_row is None else header_row + 2
    try:
        batch = workbook.load_sheet(
            sheet, header_row=None, skip_rows=0, n_rows=n_rows, dtypes="string"
        ).to_arrow()
    except fastexcel.FastExcelError:
        return None  # an empty sheet has no range to read
    columns = [c.to_pylist() for c in batch.columns]
    rows = [list(r) for r in zip(*columns, strict=True)]
    if header_row is None:
        found = find_header(rows)
        if found is None:
            found = find_header(rows, data=False)
        if found is None:
            return None
        header_row = found
    elif header_row >= len(rows):
        return None
    header = [c if c else f"__UNNAMED__{i}" for i, c in enumerate(rows[header_row])]
    names = [req.config.renames.get(n, n) for n in column_names(header)]
    return _Table(header_row, names, any(_filled(r) for r in rows[header_row + 1 :]))


def _rank(table: _Table | None) -> tuple[bool, bool]:
    """Sort key: wide tables first, then tables with rows (``sorted`` is stable: sheet order)."""
    assert table is not None
    return len(table.names) < 2, not table.has_data


def _named(sheet_names: list[str], wanted: str | int, req: ReadRequest) -> str | int:
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


def non_data_rows(con: duckdb.DuckDBPyConnection, text: pa.RecordBatch) -> list[Excluded]:
    """Blank and footer rows of a sheet read as text under its header, and trailing blanks.

    Trailing blank rows come back with an empty ``reason``: skipped, not rejected.
    """
    import pyarrow as pa

    if not text.num_columns or not text.num_rows:
        return []
    cells = [f"c{i}" for i in range(text.num_columns)]
    con.register("sheet_text", pa.Table.from_batches([text]).rename_columns(cells))
    filled = [f"nullif(trim({quote(c)}), '')" for c in cells]
    number = [f"TRY_CAST(replace({f}, ',', '') AS DOUBLE) IS NOT NULL" for f in filled]
    label = (
        "coalesce("
        + ", ".join(
            f"CASE WHEN NOT ({n}) THEN {f} END" for f, n in zip(filled, number, strict=True)
        )
        + ", NULL)"
    )
    con.execute(
        f"""
        CREATE TEMP TABLE row_shape AS
        SELECT row_number() OVER () - 1 AS i,
               {" + ".join(f"({f} IS NOT NULL)::INT" for f in filled)} AS n_filled,
               {" + ".join(f"({n})::INT" for n in number)} AS n_numbers,
               {label} AS label
        FROM sheet_text
        """
    )
    con.unregister("sheet_text")
    rows = con.execute(
        f"""
        WITH ends AS (
            SELECT max(i) FILTER (WHERE n_filled > 0) AS last_filled FROM row_shape
        ), gap AS (
            SELECT max(i) FILTER (WHERE n_filled = 0 AND i < last_filled) AS last_blank
            FROM row_shape, ends
        ), tail AS (
            SELECT count(*) FILTER (WHERE n_filled > 0) AS n,
                   bool_and(n_filled = 0 OR (n_filled - n_numbers <= 1 AND n_numbers >= 1
                       AND n_filled < (SELECT max(n_filled) FROM row_shape, gap
                                       WHERE i < last_blank))) AS sums_only
            FROM row_shape, gap WHERE i > last_blank
        )
        SELECT i,
               CASE WHEN n_filled = 0 THEN 'BLANK ROW' ELSE 'FOOTER ROW' END,
               CASE WHEN n_filled = 0 AND i > last_filled THEN ''
                    WHEN n_filled = 0 THEN 'blank row'
                    WHEN label IS NULL THEN 'footer row (numbers after the data)'
                    ELSE 'footer row ' || {literal("'")} || label || {literal("'")} END
        FROM row_shape, ends, gap, tail
        WHERE n_filled = 0
           OR (n_filled - n_numbers = 1 AND n_numbers > 0
               AND regexp_matches(label, {literal(_FOOTER_LABEL)}, 'i'))
           OR (n_filled = 1 AND regexp_matches(trim(label), {literal(_FOOTER_WORD)}, 'i'))
           OR (i > last_blank AND tail.n BETWEEN 1 AND {MAX_FOOTER_ROWS} AND tail.sums_only)
        ORDER BY i
        """
    ).fetchall()
    con.execute("DROP TABLE row_shape")
    return [Excluded(int(i), kind, reason) for i, kind, reason in rows]
