"""Settings of a ``files`` source (``sources/<department>/<name>.yaml``).

Vocabularies are ``Literal`` types so a typo such as ``format: cvs`` gets the
allowed values and "did you mean `csv`?" from the shared loader. Everything
has a default except the patterns' intent: a monthly export whose name
changes (``rent_accounts_2026_01.csv``) is matched by a glob, so the file
never needs editing when a new month arrives.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from civiclake.config.models import Model
from civiclake.ingest.config import SourceConfig, check_dataset_name
from civiclake.naming import snake_case

FileFormat = Literal["auto", "csv", "excel", "json", "ndjson"]
Encoding = Literal["utf-8", "latin-1", "utf-16"]
"""The encodings DuckDB reads without an extension (``encodings`` must be downloaded)."""

_TYPE_NAME = re.compile(
    r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?$",
)
"""A DuckDB type name as written in config (``DECIMAL(12,2)``, ``VARCHAR``, ``BIGINT[]``).

Checked here because the name is spliced into SQL; DuckDB checks that it exists.
"""


class CsvOptions(Model):
    delimiter: str = "auto"
    """``auto`` (sniffed) or one character; ``tab`` for tab-separated files."""
    header: bool = True
    encoding: Encoding = "utf-8"
    skip_rows: int = Field(default=0, ge=0)
    """Lines to skip before the header (title lines some exports add)."""

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value in ("auto", "tab", "\t") or len(value) == 1:
            return "\t" if value == "tab" else value
        raise ValueError("use `auto`, `tab` or a single character such as `;`")


class ExcelOptions(Model):
    sheet: str | int | None = None
    """Sheet name or 0-based index; the first sheet when unset."""
    header_row: int = Field(default=0, ge=0)
    """0-based row holding the column names (rows above it are skipped)."""


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
    key: list[str] = Field(default_factory=list)
    min_file_age_seconds: float = Field(default=5, ge=0)
    """A file modified more recently than this is still being written: skipped this run."""

    @field_validator("dataset")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return check_dataset_name(value)

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
