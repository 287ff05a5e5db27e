"""Looking at one sample file to propose a ``files`` source for it (``civiclake new source``).

Everything here is a guess for a person to review, made with the readers the source itself
uses, so what is proposed is what a run will load:

* the format from the extension; for CSV the dialect DuckDB's ``sniff_csv`` finds (delimiter,
  header, title lines to skip) and the encoding (UTF-8 unless the bytes say otherwise);
* a pattern that matches next month's file: a date in the name becomes a placeholder;
* key candidates: columns (or, failing one, pairs) unique and never empty in the sample;
* personal data by column name and by values (e-mail addresses, NI numbers, birth dates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.ingest.duck import first_row, scalar
from civiclake.ingest.exceptions import BadFileError
from civiclake.ingest.files import delimited, structured
from civiclake.ingest.files.config import (
    CsvOptions,
    Encoding,
    ExcelOptions,
    FilesSourceConfig,
    time_from_name,
)
from civiclake.ingest.files.readers import EXTENSIONS, ReadRequest
from civiclake.naming import literal, quote

if TYPE_CHECKING:
    import duckdb

    from civiclake.storage.connections import Connections

EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
NI_NUMBER = r"^[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]$"
"""A UK National Insurance number (HMRC's prefix rules), spaces removed, upper case."""

_PERSON = {"first", "last", "full", "given", "family", "middle", "maiden", "preferred"}
_PERSON |= {"tenant", "contact", "customer", "applicant", "resident", "person", "client"}
_PERSON |= {"claimant", "member", "occupant", "owner", "landlord", "next_of_kin"}
_PII_NAMES: list[tuple[str, re.Pattern[str]]] = [
    ("a person's name", re.compile(r"^(name|forenames?|surname|firstname|lastname|fullname)$")),
    ("a person's name", re.compile(r"(^|_)(forenames?|surname|first_name|last_name)($|_)")),
    ("an e-mail address", re.compile(r"(^|_)e_?mail(_address)?($|_)")),
    ("a date of birth", re.compile(r"(^|_)(dob|date_of_birth|birth_?date|birthday)($|_)")),
    ("an NI number", re.compile(r"(^|_)(nino|ni_no|ni_number|national_insurance\w*)($|_)")),
    ("a phone number", re.compile(r"(^|_)(phone|telephone|tel|mobile)(_no|_number)?($|_)")),
    ("an address", re.compile(r"(^|_)address(_line)?(_\d)?($|_)")),
    ("a postcode", re.compile(r"(^|_)(postcode|post_code|postal_code)($|_)")),
]

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATES: list[tuple[re.Pattern[str], str, str]] = [
    # (regex over the file name, placeholder name, strftime format of what it matched)
    (re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)"), "day", "%Y-%m-%d"),
    (re.compile(r"(?<!\d)\d{4}_\d{2}_\d{2}(?!\d)"), "day", "%Y_%m_%d"),
    (re.compile(r"(?<!\d)\d{8}(?!\d)"), "day", "%Y%m%d"),
    (re.compile(r"(?<!\d)\d{4}-\d{2}(?!\d)"), "month", "%Y-%m"),
    (re.compile(r"(?<!\d)\d{4}_\d{2}(?!\d)"), "month", "%Y_%m"),
    (re.compile(r"(?<!\d)\d{6}(?!\d)"), "month", "%Y%m"),
]
_MONTH_NAME = re.compile(rf"(?i)(?<![a-z])({_MONTHS}|[a-z]{{3}})([ _-]?)(\d{{4}})(?!\d)")


@dataclass(frozen=True)
class Guess:
    """A column that may hold personal data, and why it was guessed."""

    column: str
    reason: str


@dataclass
class Inspection:
    """What a sample file says about the source that would load it."""

    file: Path
    format: str
    rows: int
    columns: list[tuple[str, str]]
    """``(name, DuckDB type)`` as the source will load them."""
    pattern: str
    date_part: str | None
    """The date found in the name (``2026-03``) that the pattern's placeholder stands for."""
    csv: CsvOptions | None = None
    sheet: str | None = None
    """Excel: the sheet chosen when it is not the first (the one with the most rows)."""
    sheets: list[str] = field(default_factory=list)
    keys: list[tuple[str, ...]] = field(default_factory=list)
    """Key candidates, best first: single columns, else pairs."""
    pii: list[Guess] = field(default_factory=list)


def file_pattern(name: str) -> tuple[str, str | None]:
    """A pattern matching ``name`` and next month's name: ``(pattern, the date replaced)``.

    ``rent_accounts_2026-03.csv`` → ``rent_accounts_{month:%Y-%m}.csv``; ``_2026_03``,
    ``202603``, ``20260331``, ``Mar2026`` and ``March 2026`` likewise. A name without a date is
    its own pattern (the next export is expected under the same name).
    """
    candidates: list[tuple[int, int, str, str]] = []
    for regex, placeholder, fmt in _DATES:
        for m in regex.finditer(name):
            candidates.append((m.start(), m.end(), placeholder, fmt))
    for m in _MONTH_NAME.finditer(name):
        word, sep = m.group(1), m.group(2)
        if word.lower() not in _MONTHS.split("|") and not _is_abbreviation(word):
            continue
        fmt = ("%B" if len(word) > 3 else "%b") + sep + "%Y"
        candidates.append((m.start(), m.end(), "month", fmt))
    for start, end, placeholder, fmt in candidates:  # the first that reads as a real date
        try:
            datetime.strptime(name[start:end], fmt)
        except ValueError:
            continue
        pattern = _glob_escape(name[:start]) + f"{{{placeholder}:{fmt}}}" + _glob_escape(name[end:])
        if time_from_name(pattern, name) is not None:
            return pattern, name[start:end]
    return _glob_escape(name), None


def _is_abbreviation(word: str) -> bool:
    return word.lower() in {m[:3] for m in _MONTHS.split("|")}


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def inspect_file(path: Path, *, connections: Connections, config_file: str) -> Inspection:
    """Read ``path`` as the source would and propose its settings (see the module doc)."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise BadFileError(
            f"{path.name}: civiclake reads CSV (.csv, .tsv, .txt), Excel (.xlsx, .xlsm, .xls, "
            f".ods) and JSON (.json, .ndjson, .jsonl) files, not {path.suffix or 'no extension'}"
        )
    pattern, date_part = file_pattern(path.name)
    with connections.connect(timezone="UTC") as con:
        csv: CsvOptions | None = None
        sheet: str | None = None
        sheets: list[str] = []
        if fmt == "csv":
            csv = _dialect(con, path, config_file)
            config = FilesSourceConfig(format="csv", csv=csv)
            req = ReadRequest(path, path.name, config, config_file)
            parsed = delimited.read_csv(con, req, optimistic=False)
        elif fmt == "excel":
            sheets, sheet = _sheet_with_most_rows(path)
            config = FilesSourceConfig(format="excel", excel=ExcelOptions(sheet=sheet))
            parsed = structured.read_excel(con, ReadRequest(path, path.name, config, config_file))
        else:
            config = FilesSourceConfig(format=fmt)  # type: ignore[arg-type]
            req = ReadRequest(path, path.name, config, config_file)
            parsed = structured.read_json(con, req, lines=fmt == "ndjson")
        con.execute("CREATE TEMP TABLE sample AS SELECT * EXCLUDE (_source_row) FROM good")
        columns = [(str(r[0]), str(r[1])) for r in con.sql("DESCRIBE sample").fetchall()]
        rows = int(scalar(con, "SELECT count(*) FROM sample"))
        if rows == 0 and parsed.rejected:
            raise BadFileError(
                f"{path.name}: no row of it could be read ({parsed.rejected} rejected); check it "
                "opens as a table, or write the source file by hand (docs/sources.md)"
            )
        found = Inspection(path, fmt, rows, columns, pattern, date_part, csv, sheet, sheets)
        found.pii = _pii_guesses(con, columns, rows)
        found.keys = _key_candidates(con, columns, rows, {g.column for g in found.pii})
    return found


def _dialect(con: duckdb.DuckDBPyConnection, path: Path, config_file: str) -> CsvOptions:
    """Encoding from the bytes, then DuckDB's sniffer for delimiter and header; title lines
    above the header are found by sniffing past 0, 1, … 10 lines and keeping the fewest
    skipped that give the most columns."""
    import duckdb

    encoding = _encoding(path)
    best: tuple[int, int, Any] | None = None
    for skip in range(11):
        try:
            sniffed: Any = first_row(
                con,
                f"SELECT Delimiter, HasHeader, len(Columns) FROM sniff_csv({literal(str(path))}, "
                f"encoding={literal(encoding)}, skip={skip}, ignore_errors=true)",
            )
        except duckdb.Error:
            continue
        if sniffed is not None and (best is None or sniffed[2] > best[0]):
            best = (int(sniffed[2]), skip, sniffed)
    if best is None:
        raise BadFileError(
            f"{path.name}: DuckDB could not tell its delimiter, quoting or header (read as "
            f"{encoding}, skipping up to 10 title lines); check it is a CSV file, or write "
            f"{config_file} by hand with `csv.delimiter` and `csv.skip_rows` (docs/sources.md)"
        )
    _, skip, (delimiter, header, _) = best
    return CsvOptions(
        delimiter="tab" if delimiter == "\t" else str(delimiter),
        header=bool(header),
        encoding=encoding,
        skip_rows=skip,
    )


def _encoding(path: Path) -> Encoding:
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 1 MB boundary
            return "latin-1"
    return "utf-8"


def _sheet_with_most_rows(path: Path) -> tuple[list[str], str | None]:
    """The workbook's sheets and, when it is not the first, the sheet with the most rows (a
    cover or notes sheet first is common)."""
    import fastexcel

    try:
        workbook = fastexcel.read_excel(str(path))
        heights = [workbook.load_sheet(n, dtypes="string").height for n in workbook.sheet_names]
    except fastexcel.FastExcelError as exc:
        raise BadFileError(
            f"{path.name}: cannot read it as an Excel workbook ({str(exc).splitlines()[0]})"
        ) from None
    names = list(workbook.sheet_names)
    best = max(range(len(names)), key=lambda i: (heights[i], -i)) if names else 0
    return names, (names[best] if best else None)


_NOT_KEYS = ("DOUBLE", "FLOAT", "REAL", "BOOLEAN", "DECIMAL")
_KEY_WORDS = re.compile(r"(^|_)(id|ref|reference|key|code|number|no|uprn|urn)($|_)")


def _key_rank(column: tuple[str, str], personal: set[str]) -> int:
    """Lower is better: key-like names first; dates and personal data last."""
    name, kind = column
    rank = 0 if _KEY_WORDS.search(name) else 1
    if kind.startswith(("DATE", "TIMESTAMP", "TIME")):
        rank += 2
    if name in personal:
        rank += 2
    return rank


def _key_candidates(
    con: duckdb.DuckDBPyConnection,
    columns: list[tuple[str, str]],
    rows: int,
    personal: set[str],
) -> list[tuple[str, ...]]:
    usable = [(n, t) for n, t in columns if not t.startswith(_NOT_KEYS)]
    if rows < 2 or not usable:
        return []
    stats = ", ".join(
        f"count(DISTINCT {quote(n)}) = {rows} AND count({quote(n)}) = {rows}" for n, _ in usable
    )
    unique = first_row(con, f"SELECT {stats} FROM sample") or ()
    single = [c for c, ok in zip(usable, unique, strict=True) if ok]
    if single:
        order = sorted(single, key=lambda c: (_key_rank(c, personal), usable.index(c)))
        return [(n,) for n, _ in order]
    nonnull = [c for c in usable[:12] if _no_nulls(con, c[0], rows)]
    pairs = [(a, b) for i, a in enumerate(nonnull) for b in nonnull[i + 1 :]]
    if not pairs:
        return []
    stats = ", ".join(f"count(DISTINCT ({quote(a[0])}, {quote(b[0])})) = {rows}" for a, b in pairs)
    unique = first_row(con, f"SELECT {stats} FROM sample") or ()
    found = [p for p, ok in zip(pairs, unique, strict=True) if ok]
    found.sort(
        key=lambda p: (_key_rank(p[0], personal) + _key_rank(p[1], personal), pairs.index(p))
    )
    return [(a[0], b[0]) for a, b in found]


def _no_nulls(con: duckdb.DuckDBPyConnection, column: str, rows: int) -> bool:
    return int(scalar(con, f"SELECT count({quote(column)}) FROM sample")) == rows


def _pii_guesses(
    con: duckdb.DuckDBPyConnection, columns: list[tuple[str, str]], rows: int
) -> list[Guess]:
    guesses: list[Guess] = []
    for name, kind in columns:
        reason = _by_name(name)
        if reason is None and rows:
            reason = _by_values(con, name, kind)
        if reason is not None:
            guesses.append(Guess(name, reason))
    return guesses


def _by_name(name: str) -> str | None:
    for what, regex in _PII_NAMES:
        if regex.search(name):
            return f"guessed from the column name (looks like {what})"
    parts = name.split("_")
    if parts[-1] == "name" and "_".join(parts[:-1]) in _PERSON:
        return "guessed from the column name (looks like a person's name)"
    return None


def _by_values(con: duckdb.DuckDBPyConnection, name: str, kind: str) -> str | None:
    column = quote(name)
    if kind == "VARCHAR":
        share: Any = first_row(
            con,
            f"SELECT avg(CASE WHEN regexp_matches(trim({column}), {literal(EMAIL)}) THEN 1 "
            f"ELSE 0 END), avg(CASE WHEN regexp_matches(upper(replace({column}, ' ', '')), "
            f"{literal(NI_NUMBER)}) THEN 1 ELSE 0 END) FROM sample WHERE {column} <> ''",
        )
        email, ni = share or (None, None)
        if email is not None and email >= 0.5:
            return f"guessed from its values ({email:.0%} look like e-mail addresses)"
        if ni is not None and ni >= 0.5:
            return f"guessed from its values ({ni:.0%} look like NI numbers)"
    if kind in ("DATE", "TIMESTAMP"):
        stats: Any = first_row(
            con,
            f"SELECT min({column})::DATE, max({column})::DATE, count(DISTINCT {column}), "
            f"count({column}) FROM sample",
        ) or (None, None, 0, 0)
        low, high, distinct, count = stats
        adult = date.today().replace(year=date.today().year - 16, day=1)
        if (
            low is not None
            and count >= 5
            and low >= date(1900, 1, 1)
            and high <= adult
            and distinct >= 0.8 * count
        ):
            return (
                "guessed from its values (every date is 16 to 125 years ago and nearly all "
                "differ, as dates of birth do)"
            )
    return None


__all__ = ["EMAIL", "NI_NUMBER", "Guess", "Inspection", "file_pattern", "inspect_file"]
