"""Settings of a ``files`` source (``sources/<department>/<name>.yaml``).

Vocabularies are ``Literal`` types so a typo such as ``format: cvs`` gets the
allowed values and "did you mean `csv`?" from the shared loader. Everything
has a default except the patterns' intent: a monthly export whose name
changes (``rent_accounts_2026_01.csv``) is matched by a glob, so the file
never needs editing when a new month arrives.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from civiclake.config.models import Model
from civiclake.ingest.config import DeleteMode, SourceConfig, check_dataset_name, check_track
from civiclake.naming import snake_case

FileFormat = Literal["auto", "csv", "excel", "json", "ndjson"]
Encoding = Literal["utf-8", "latin-1", "utf-16"]
Thousands = Literal[",", ".", " ", "'"]
"""The encodings DuckDB reads without an extension (``encodings`` must be downloaded)."""

_TYPE_NAME = re.compile(
    r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?$",
)
"""A DuckDB type name as written in config (``DECIMAL(12,2)``, ``VARCHAR``, ``BIGINT[]``).

Checked here because the name is spliced into SQL; DuckDB checks that it exists.
"""


_PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")
"""``{month:%Y-%m}`` in a pattern: the part of the name holding the export's date."""
_DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{1,2}",
    "d": r"\d{1,2}",
    "H": r"\d{1,2}",
    "M": r"\d{1,2}",
    "S": r"\d{1,2}",
    "b": r"[A-Za-z]{3}",
    "B": r"[A-Za-z]+",
    "j": r"\d{1,3}",
}


def placeholders(pattern: str) -> list[tuple[str, str]]:
    """The ``(name, format)`` placeholders of a pattern; ValueError for one we cannot read."""
    found = _PLACEHOLDER.findall(pattern)
    if len(found) > 1:
        raise ValueError(f"{pattern!r}: use one date placeholder such as {{month:%Y-%m}}")
    for name, fmt in found:
        for directive in re.findall(r"%(.)", fmt):
            if directive not in _DIRECTIVES:
                raise ValueError(
                    f"{pattern!r}: %{directive} in {{{name}:{fmt}}} is not a date part civiclake "
                    f"reads from a file name; use %Y, %m, %d, %H, %M, %S, %b or %B"
                )
    return found


def time_from_name(pattern: str, file_name: str) -> datetime | None:
    """The time a ``{name:%fmt}`` placeholder of ``pattern`` reads from ``file_name``."""
    found = placeholders(pattern)
    if not found:
        return None
    _name, fmt = found[0]
    regex = ""
    for piece in re.split(r"(\{\w+:[^{}]+\})", pattern):
        if _PLACEHOLDER.fullmatch(piece):
            part = re.sub(r"%(.)", lambda m: _DIRECTIVES.get(m.group(1), "."), re.escape(fmt))
            regex += f"(?P<when>{part.replace(chr(92) + '%', '%')})"
        else:
            regex += fnmatch.translate(piece).removeprefix("(?s:").removesuffix(")\\Z")
    match = re.fullmatch(regex, file_name, flags=re.IGNORECASE)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group("when"), fmt)
    except ValueError:
        return None


class CsvOptions(Model):
    delimiter: str = "auto"
    """``auto`` (sniffed) or one character; ``tab`` for tab-separated files."""
    header: bool = True
    encoding: Encoding = "utf-8"
    skip_rows: int = Field(default=0, ge=0)
    """Lines to skip before the header (title lines some exports add)."""
    thousands: Thousands | None = None
    """The thousands separator of numbers (``","``: ``"1,234.50"`` reads as 1234.5). With
    ``"."`` the decimal separator is ``","`` (``"1.234,50"``). DuckDB's reader strips it from
    every number column, sniffed or set under ``columns:``."""
    date_format: str | None = None
    """How dates are written, as strptime codes: ``"%d/%m/%Y"`` for UK exports. By default
    DuckDB detects the format from the file's first rows."""
    timestamp_format: str | None = None
    """How date-times are written, e.g. ``"%d/%m/%Y %H:%M"``."""
    max_line_size: int | None = Field(default=None, gt=0)
    """The longest line read, in bytes (DuckDB's ``max_line_size``; 2,000,000 by default)."""

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value in ("auto", "tab", "\t") or len(value) == 1:
            return "\t" if value == "tab" else value
        raise ValueError("use `auto`, `tab` or a single character such as `;`")

    @field_validator("date_format", "timestamp_format")
    @classmethod
    def _strptime_codes(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value:
            raise ValueError(
                f"{value!r} has no strptime codes; write it like `%d/%m/%Y` (day/month/year) "
                "or `%d/%m/%Y %H:%M`"
            )
        return value

    @property
    def decimal_separator(self) -> str:
        """``","`` when numbers group thousands with ``"."`` (``1.234,50``), else ``"."``."""
        return "," if self.thousands == "." else "."


class ExcelOptions(Model):
    sheet: str | int | None = None
    """Sheet name or 0-based index. Unset: the first sheet that looks like a table (a header
    row with data under it), so a cover or notes sheet is not loaded."""
    sheet_containing: list[str] | None = None
    """Pick the sheet whose header has these columns (normalised names), e.g.
    ``[tenancy_ref, balance]``, for workbooks whose sheets move or get renamed."""
    header_row: int | None = Field(default=None, ge=0)
    """0-based row holding the column names (rows above it are skipped). Unset: the first
    row of mostly non-empty, distinct, non-numeric cells with data under it."""

    @field_validator("sheet_containing")
    @classmethod
    def _columns(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("list at least one column the sheet's header has")
        return None if value is None else [snake_case(v) for v in value]

    @model_validator(mode="after")
    def _one_way_to_pick(self) -> ExcelOptions:
        if self.sheet is not None and self.sheet_containing is not None:
            raise ValueError(
                "set either `sheet` or `sheet_containing`, not both: `sheet` names the sheet, "
                "`sheet_containing` finds it by its columns"
            )
        return self


class FilesSourceConfig(SourceConfig):
    """CSV, Excel and JSON/NDJSON files dropped in a folder, matched by glob patterns."""

    type: Literal["files"] = "files"
    dataset: str | None = None
    """Output dataset in raw; defaults to the source file's stem."""
    patterns: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    folder: str | None = None
    """Default: the landing inbox ``<root>/landing/<department>/<source>/``."""
    format: FileFormat = "auto"
    csv: CsvOptions = CsvOptions()
    excel: ExcelOptions = ExcelOptions()
    columns: dict[str, str] = Field(default_factory=dict)
    """Type overrides keyed by normalised column name, as DuckDB type names."""
    renames: dict[str, str] = Field(default_factory=dict)
    """Old column name → current one (normalised names), for exports that renamed a column:
    files with the old name load into the current column, and a table still holding the old
    column has it moved into the current one (recorded as a schema change)."""
    key: list[str] = Field(default_factory=list)
    min_file_age_seconds: float = Field(default=5, ge=0)
    """A file modified more recently than this is still being written: skipped this run."""
    full_export: bool = False
    """Each file is a whole export (needs ``key:``): the dataset keeps every export's state
    as history — ``x``, ``x__history``, ``x_as_of(t)``, ``x_as_known(t)`` — and keys absent
    from an export are deleted as of that export."""
    effective_column: str | None = None
    """With ``full_export``: a column holding the export's date (the same in every row). By
    default the date comes from a ``{name:%Y-%m}`` placeholder in a pattern, else the time
    the file arrived."""
    version: str | None = None
    """A column dating each row's last change; rows whose tracked values changed are dated
    by it when it moved forward, else by the export's time."""
    track: Literal["all"] | list[str] = "all"
    """Columns whose change makes a new version (null-safe comparison): ``all`` or a list."""
    deletes: DeleteMode = "invalidate"
    """What a key absent from an export does: ``invalidate`` (its last version ends),
    ``new_record`` (a row marked ``is_deleted`` is added too) or ``ignore``."""

    @field_validator("track")
    @classmethod
    def _tracked(cls, value: Literal["all"] | list[str]) -> Literal["all"] | list[str]:
        return check_track(value, snake_case)

    @field_validator("patterns")
    @classmethod
    def _placeholders(cls, value: list[str]) -> list[str]:
        for pattern in value:
            placeholders(pattern)  # a ValueError names what is wrong
        return value

    @model_validator(mode="after")
    def _export_needs_key(self) -> FilesSourceConfig:
        if self.full_export and not self.key:
            raise ValueError(
                "`full_export: true` needs `key:` (the columns identifying a record, e.g. "
                "`key: [tenancy_ref]`) so each export can be compared with the last"
            )
        return self

    @property
    def globs(self) -> list[str]:
        """The patterns as globs (a ``{name:%fmt}`` placeholder matches anything)."""
        return [_PLACEHOLDER.sub("*", p) for p in self.patterns]

    def effective_time(self, file_name: str) -> datetime | None:
        """The export time a pattern's placeholder gives ``file_name``; None without one."""
        for pattern in self.patterns:
            found = time_from_name(pattern, file_name)
            if found is not None:
                return found
        return None

    @field_validator("dataset")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return check_dataset_name(value)

    @field_validator("renames")
    @classmethod
    def _renames(cls, value: dict[str, str]) -> dict[str, str]:
        renames = {snake_case(old): snake_case(new) for old, new in value.items()}
        for old, new in renames.items():
            if old == new:
                raise ValueError(f"`{old}: {new}` renames a column to itself; remove it")
            if new in renames:
                raise ValueError(
                    f"`{new}` is both a new name (of `{old}`) and renamed to `{renames[new]}`; "
                    f"map every old name straight to the current one: `{old}: {renames[new]}`"
                )
        return renames

    @field_validator("columns")
    @classmethod
    def _type_names(cls, value: dict[str, str]) -> dict[str, str]:
        for column, type_name in value.items():
            if not _TYPE_NAME.match(type_name.strip()):
                raise ValueError(
                    f"column `{column}`: {type_name!r} is not a type name; use a DuckDB type "
                    "such as VARCHAR, BIGINT, DOUBLE, DATE, TIMESTAMP or DECIMAL(12,2)"
                )
        return {snake_case(k): v.strip() for k, v in value.items()}


__all__ = ["CsvOptions", "Encoding", "ExcelOptions", "FileFormat", "FilesSourceConfig"]
