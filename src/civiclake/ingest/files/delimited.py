"""CSV files, read and typed by DuckDB's ``read_csv`` with ``store_rejects``.

Two passes over the file, both in DuckDB's parallel C++ reader:

1. a full parse that touches every column, so every bad row (wrong field
   count, a value that does not fit its column's type, bytes not in the
   configured encoding) lands in DuckDB's ``reject_errors`` table before
   anything is written;
2. the streamed read the source writes to Delta.

The first pass is what lets a wrong encoding fail the whole file before any
row is committed, and what gives good rows their exact line number: DuckDB
numbers rejected lines but not good ones, so a good row's line is its
ordinal plus the rejected lines before it (an ``ASOF`` join against the
few rejects). Measured on 1M rows × 20 columns the first pass costs ~0.9 s
against ~2.4 s for the read-and-write (see ``bench/load_csv.py``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.ingest.duck import first_row, scalar
from civiclake.ingest.exceptions import BadFileError
from civiclake.ingest.files.readers import REJECTS_DDL, Parsed, ReadRequest, check_types, normalise
from civiclake.naming import literal

if TYPE_CHECKING:
    import duckdb

    from civiclake.storage.connections import Connections

_TIDY_REASON = """
CASE error_type
  WHEN 'MISSING COLUMNS' THEN 'the row has fewer fields than the header ('
       || error_message || '); first missing column: ' || column_name
  WHEN 'TOO MANY COLUMNS' THEN 'the row has more fields than the header ('
       || error_message || ')'
  WHEN 'UNQUOTED VALUE' THEN 'a quote character inside an unquoted value: ' || error_message
  WHEN 'LINE SIZE OVER MAXIMUM' THEN 'the line is too long (a missing closing quote?)'
  ELSE error_message
END"""


_PIECE = 1 << 20
"""Bytes read at a time when looking for the line a problem is on."""

Sniffed = tuple[Any, ...]
"""The dialect and column types DuckDB's ``sniff_csv`` found."""


def read_csv(
    con: duckdb.DuckDBPyConnection,
    req: ReadRequest,
    *,
    optimistic: bool,
    sniffed: Sniffed | None = None,
) -> Parsed:
    """Leave ``good`` and ``rejects`` in ``con`` for one CSV file.

    ``optimistic`` skips the first pass: rows are numbered as if none were
    rejected, and :attr:`Parsed.verify` must confirm that after the stream
    (the caller aborts the write and reads again in two passes if not).
    ``sniffed`` is :func:`sniff`'s result when the caller sniffed already.
    """
    import duckdb

    opts = req.config.csv
    path = literal(str(req.path))
    _refuse_nul_bytes(req)
    _check_head_encoding(req)
    if sniffed is None:
        sniffed = sniff(con, req)
    _refuse_truncated(req, sniffed)
    source = _explicit(con, req, path, sniffed)
    offset = opts.skip_rows + (1 if opts.header else 0)
    if optimistic:
        con.execute(REJECTS_DDL).fetchall()
        con.execute(f"CREATE VIEW good AS SELECT * FROM {source}").fetchall()
        return Parsed(con, 0, 0, verify=lambda: _clean_scan(con), first_row=offset + 1)
    try:
        rows = scalar(con, f"SELECT count(*), max(hash(COLUMNS(*))) FROM {source}")
    except duckdb.Error as exc:
        raise _bad_file(req, exc) from None
    _collect_rejects(con, req)
    _good_view(con, source, offset)
    return Parsed(con, rows, scalar(con, "SELECT count(*) FROM rejects"))


def sniff(con: duckdb.DuckDBPyConnection, req: ReadRequest) -> Sniffed:
    """The file's dialect and column types (DuckDB samples the start of the file)."""
    import duckdb

    opts = req.config.csv
    args = [f"header={str(opts.header).lower()}", f"skip={opts.skip_rows}"]
    args.append(f"encoding={literal(opts.encoding)}")
    if opts.max_line_size is not None:
        args.append(f"max_line_size={opts.max_line_size}")
    if opts.delimiter != "auto":
        args.append(f"delim={literal(opts.delimiter)}")
    args += _number_and_date_args(req)
    try:
        # ignore_errors as in the reads (store_rejects implies it): without it a
        # ragged file sniffs as one column
        sniffed = first_row(
            con,
            "SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, HasHeader, Columns, "
            f"DateFormat, TimestampFormat FROM sniff_csv({literal(str(req.path))}, "
            f"{', '.join(args)}, ignore_errors=true)",
        )
    except duckdb.Error as exc:
        raise _bad_file(req, exc) from None
    assert sniffed is not None
    return sniffed


def sniff_file(req: ReadRequest, *, connections: Connections) -> Sniffed:
    """:func:`sniff` on a connection of its own, so it can run beside the file's hashing."""
    with connections.connect() as con:
        return sniff(con, req)


def _explicit(
    con: duckdb.DuckDBPyConnection, req: ReadRequest, path: str, sniffed: tuple[Any, ...]
) -> str:
    """``read_csv`` with the sniffed dialect and types spelled out, columns renamed and
    overridden: the file is sniffed once, and every later read parses it identically."""
    delim, quote, escape, new_line, comment, header, columns, date_fmt, ts_fmt = sniffed
    names = normalise([c["name"] for c in columns], req)
    check_types(con, req)
    types = {n: req.config.columns.get(n, c["type"]) for n, c in zip(names, columns, strict=True)}
    opts = req.config.csv
    args = [
        "auto_detect=false",
        f"delim={literal(delim)}",
        f"quote={literal(_empty(quote))}",
        f"escape={literal(_empty(escape))}",
        f"comment={literal(_empty(comment))}",
        f"header={str(bool(header)).lower()}",
        f"skip={opts.skip_rows}",
        f"encoding={literal(opts.encoding)}",
        "columns={" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in types.items()) + "}",
    ]
    if opts.max_line_size is not None:
        args.append(f"max_line_size={opts.max_line_size}")
    if new_line in ("\\n", "\\r", "\\r\\n"):
        args.append(f"new_line={literal(new_line)}")
    args += _number_and_date_args(req, date_fmt, ts_fmt)
    return f"read_csv({path}, {', '.join(args)}, store_rejects=true)"


def _number_and_date_args(
    req: ReadRequest, date_fmt: str | None = None, ts_fmt: str | None = None
) -> list[str]:
    """``thousands``, ``dateformat`` and ``timestampformat`` for ``read_csv``/``sniff_csv``:
    the configured ones win over what the sniffer found (``date_fmt``, ``ts_fmt``)."""
    opts = req.config.csv
    args = []
    if opts.thousands is not None:
        args.append(f"thousands={literal(opts.thousands)}")
        args.append(f"decimal_separator={literal(opts.decimal_separator)}")
    if date_fmt := opts.date_format or date_fmt:
        args.append(f"dateformat={literal(date_fmt)}")
    if ts_fmt := opts.timestamp_format or ts_fmt:
        args.append(f"timestampformat={literal(ts_fmt)}")
    return args


def _empty(value: str) -> str:
    return "" if value == "(empty)" else value


def _numbered(source: str, offset: int) -> str:
    return (
        f"CREATE VIEW good AS SELECT *, row_number() OVER () + {offset} AS _source_row "
        f"FROM {source}"
    )


def _clean_scan(con: duckdb.DuckDBPyConnection) -> bool:
    """After a single-pass stream: did DuckDB reject nothing (so line numbers hold)?"""
    found = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'reject_errors'"
    return not scalar(con, found) or not scalar(con, "SELECT count(*) FROM reject_errors")


def _collect_rejects(con: duckdb.DuckDBPyConnection, req: ReadRequest) -> None:
    """Copy the first pass's rejects, one row per bad line; bad encoding fails the file."""
    con.execute(REJECTS_DDL)
    if not scalar(
        con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'reject_errors'"
    ):  # DuckDB creates it with the first reject
        return
    con.execute(
        "CREATE TEMP TABLE scan_rejects AS SELECT * FROM reject_errors "
        "WHERE scan_id = (SELECT max(scan_id) FROM reject_errors)"
    )
    row = first_row(
        con,
        "SELECT line FROM scan_rejects WHERE error_type = 'INVALID ENCODING' ORDER BY line LIMIT 1",
    )
    if row is not None:
        raise BadFileError(_encoding_advice(req, f"line {row[0]}"))
    con.execute(
        f"""
        INSERT INTO rejects
        SELECT line,
               arg_min(column_name, column_idx),
               arg_min(error_type, column_idx),
               CASE WHEN bool_and(error_type = 'CAST')
                    THEN string_agg({_cast_reason(req)}, '; ' ORDER BY column_idx)
                    ELSE arg_min({_TIDY_REASON}, column_idx) END,
               arg_min(csv_line, column_idx)
        FROM scan_rejects GROUP BY line
        """
    )


def _cast_reason(req: ReadRequest) -> str:
    """DuckDB's cast message, naming the configured format a date did not match."""
    opts = req.config.csv
    reason = "error_message"
    for type_name, key, fmt in (
        ("DATE", "date_format", opts.date_format),
        ("TIMESTAMP", "timestamp_format", opts.timestamp_format),
    ):
        if fmt:
            hint = literal(f" (`csv.{key}` is {fmt})")
            like = literal(f"%to '{type_name}'")
            reason = (
                f"CASE WHEN error_message LIKE {like} THEN error_message || {hint} "
                f"ELSE {reason} END"
            )
    return reason


def _good_view(con: duckdb.DuckDBPyConnection, source: str, offset: int) -> None:
    """``good`` with each row's line: its ordinal plus the rejected lines before it."""
    if not scalar(con, "SELECT count(*) FROM rejects"):
        con.execute(_numbered(source, offset)).fetchall()
        return
    # Rejected record j (1-based, in file order) at position p_j is preceded by
    # p_j - j good rows; a good row with ordinal g follows every j with p_j - j < g.
    con.execute(
        f"""
        CREATE TEMP TABLE reject_gaps AS
        SELECT pos - j AS k, max(j) AS j FROM (
            SELECT _source_row - {offset} AS pos, row_number() OVER (ORDER BY _source_row) AS j
            FROM rejects)
        GROUP BY pos - j
        """
    )
    con.execute(
        f"""
        CREATE VIEW good AS
        SELECT g.* EXCLUDE (_g), g._g + coalesce(r.j, 0) + {offset} AS _source_row
        FROM (SELECT *, row_number() OVER () AS _g FROM {source}) g
        ASOF LEFT JOIN reject_gaps r ON g._g > r.k
        """
    )


def _bad_file(req: ReadRequest, exc: Exception) -> BadFileError:
    message = str(exc)
    if "encoded" in message or "unicode" in message.lower():
        line = message.split("CSV Error on Line: ", 1)[-1].split("\n", 1)[0]
        where = f"line {line}" if line.strip().isdigit() else "its first lines"
        return BadFileError(_encoding_advice(req, where))
    limit = re.search(r"Maximum line size of (\d+) bytes exceeded", message)
    if limit:
        return BadFileError(_line_size_advice(req, int(limit.group(1))))
    first = message.splitlines()[0] if message else type(exc).__name__
    return BadFileError(
        f"{req.name}: DuckDB could not read it as CSV: {first}. Check the file opens in a text "
        f"editor; set `csv.delimiter`, `csv.skip_rows` or `csv.header` in {req.config_file}"
    )


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of each line, in chunks of at most 1 MiB (a long line comes
    in pieces with the same number)."""
    number = 1
    with path.open("rb") as fh:
        while piece := fh.readline(_PIECE):
            yield number, piece
            if piece.endswith(b"\n"):
                number += 1


def _refuse_nul_bytes(req: ReadRequest) -> None:
    """A NUL byte is not text (and PostgreSQL refuses it): the file is refused, naming the
    line. UTF-16 text is full of them, so it is not looked at."""
    if req.config.csv.encoding == "utf-16":
        return
    with req.path.open("rb") as fh:
        if fh.read(2) in (b"\xff\xfe", b"\xfe\xff"):
            return  # UTF-16 read as something else: the encoding advice says so
        fh.seek(0)
        seen = 0
        while chunk := fh.read(1 << 20):
            if b"\0" in chunk:
                break
            seen += len(chunk)
        else:
            return
    found = sum(1 for _, piece in _lines(req.path) if b"\0" in piece)
    line = next(n for n, piece in _lines(req.path) if b"\0" in piece)
    more = f" (and on {found - 1} more line{'s' if found > 2 else ''})" if found > 1 else ""
    raise BadFileError(
        f"{req.name}: NUL byte at line {line}{more}: a NUL is not text, so the export is "
        "damaged or not a CSV file. Nothing was loaded from it; export it again (or remove "
        "the NUL bytes, e.g. `tr -d '\\000' < in.csv > out.csv`) and drop it in again"
    )


def _check_head_encoding(req: ReadRequest) -> None:
    """Bytes that are not UTF-8 in a UTF-8 file's first lines are an encoding error before
    the sniffer sees them (it would take a Latin-1 header for a row of data)."""
    if req.config.csv.encoding != "utf-8":
        return
    with req.path.open("rb") as fh:
        head = fh.read(_PIECE)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.end == len(head):
            return  # a character cut by the end of the piece read
        line = head.count(b"\n", 0, exc.start) + 1
        raise BadFileError(_encoding_advice(req, f"line {line}")) from None


def _refuse_truncated(req: ReadRequest, sniffed: Sniffed) -> None:
    """A file cut off mid-row is refused, saying so (not a type clash, nor the file less its
    last row, which DuckDB drops when its half value does not cast).

    Only a file whose last line has no line break is looked at: its last line is cut off
    when it has fewer fields than the line before, or when its last value is shorter than,
    and shaped like the start of, the same column's two values before it (``2026-0`` under
    ``2026-01-12``)."""
    size = req.path.stat().st_size
    with req.path.open("rb") as fh:
        fh.seek(max(0, size - _PIECE))
        tail = fh.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    delim, quote = sniffed[0], _empty(sniffed[1]) or '"'
    text = tail.decode(req.config.csv.encoding, errors="replace").splitlines()[-3:]
    rows = list(csv.reader(text, delimiter=delim, quotechar=quote))
    if len(rows) < 3 or not rows[-1]:
        return
    before, last = rows[-2], rows[-1]
    cut = len(last) < len(before) or (
        len(last) == len(before) == len(rows[-3])
        and len(last[-1]) < len(before[-1])
        and _shape(before[-1]) == _shape(rows[-3][-1])
        and _shape(before[-1]).startswith(_shape(last[-1]))
    )
    if not cut:
        return
    with req.path.open("rb") as fh:
        line = 1 + sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(_PIECE), b""))
    raise BadFileError(
        f"{req.name}: it ends mid-row at line {line} (the file looks truncated: was it copied "
        "completely?). Nothing was loaded from it; send the complete file again"
    )


def _shape(value: str) -> str:
    """``2026-01-12`` → ``9999-99-99``: what a value looks like, digits and letters aside."""
    return re.sub(r"[A-Za-z]", "a", re.sub(r"\d", "9", value))


def _line_size_advice(req: ReadRequest, limit: int) -> str:
    line, longest = _first_line_over(req.path, limit)
    suggested = -(-longest // 1_000_000) * 1_000_000
    where = f"line {line}: the line is {longest:,} bytes" if line else "a line is"
    return (
        f"{req.name}, {where}, longer than the longest line read ({limit:,} bytes, DuckDB's "
        "max_line_size). Nothing was loaded from it. If the line is meant to be that long, "
        f"set `csv.max_line_size` in {req.config_file} (e.g. `csv.max_line_size: "
        f"{max(suggested, limit * 2)}`); if not, a quote is probably left open on that line: "
        "fix the file and drop it in again"
    )


def _first_line_over(path: Path, limit: int) -> tuple[int, int]:
    """The first line longer than ``limit`` bytes (line ending left out) and its length;
    (0, 0) when none is (a quoted value spanning lines was too long)."""
    number, length = 0, 0
    for n, piece in _lines(path):
        if n != number:
            if length > limit:
                return number, length
            number, length = n, 0
        length += len(piece.rstrip(b"\r\n"))
    return (number, length) if length > limit else (0, 0)


def _encoding_advice(req: ReadRequest, where: str) -> str:
    configured = req.config.csv.encoding
    if configured == "utf-8":
        mixed = _mixed_encodings(req.path)
        if mixed is not None:
            return (
                f"{req.name}, line {mixed}: the file mixes encodings: it is UTF-8 text, but "
                f"line {mixed} is Latin-1 (Windows-1252), so neither `csv.encoding` reads all "
                "of it. Nothing was loaded from it. Save the export again as UTF-8 (in Excel: "
                'Save As → "CSV UTF-8"), or fix that line, and drop the file in again'
            )
    with req.path.open("rb") as fh:
        head = fh.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        guess = "utf-16"
    elif configured != "utf-8" and not head.startswith(b"\x00"):
        guess = "utf-8"
    else:
        guess = "latin-1"
    return (
        f"{req.name}, {where}: the file is not {configured} text. Nothing was loaded from it. "
        f"It looks like {guess}: set `csv.encoding: {guess}` in {req.config_file} and run again"
    )


def _mixed_encodings(path: Path) -> int | None:
    """The first line that is not UTF-8 in a file that has UTF-8 text elsewhere."""
    bad: int | None = None
    utf8 = False
    for number, piece in _lines(path):
        if piece.isascii():
            continue
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data":  # a piece cut inside a character
                bad = number if bad is None else bad
        else:
            utf8 = True
        if utf8 and bad is not None:
            return bad
    return None
