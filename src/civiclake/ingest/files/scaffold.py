"""``civiclake new source <dept>/<name> <file>``: a files source written from a sample file.

The YAML is written with comments a person reviews (the key's other candidates, why each PII
column was guessed), validated exactly as a run will load it, and the sample is copied into
the source's landing inbox so the next ``civiclake run`` loads it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.exceptions import ConfigError
from civiclake.ingest.files.config import FilesSourceConfig
from civiclake.ingest.files.inspect import Inspection, inspect_file
from civiclake.naming import is_identifier, snake_case

if TYPE_CHECKING:
    from civiclake.project import Project


@dataclass(frozen=True)
class NewSource:
    """What ``new source`` wrote: the source file, the landed copy, what it found."""

    name: str
    """``housing/rent_accounts``: what ``civiclake run --select`` takes."""
    config: Path
    landed: Path
    found: Inspection


def new_source(project: Project, name: str, sample: Path, *, force: bool = False) -> NewSource:
    """Write ``sources/<dept>/<name>.yaml`` for ``sample`` and land a copy of it."""
    department_part, slash, source_part = name.strip().strip("/").partition("/")
    if not slash or not source_part or "/" in source_part:
        raise ConfigError(
            f"source name {name!r} needs its department: <department>/<name>, "
            "e.g. housing/rent_accounts"
        )
    department = project.require_department(department_part)
    stem = snake_case(source_part)
    if not is_identifier(stem):
        raise ConfigError(
            f"{source_part!r} cannot name a dataset; use letters, digits and _ "
            f"(e.g. {snake_case(source_part) or 'rent_accounts'})"
        )
    sample = Path(sample).expanduser()
    if not sample.is_file():
        raise ConfigError(f"{sample}: no such file to look at")
    folder = project.dir / "sources" / department
    path = folder / f"{stem}.yaml"
    relative = path.relative_to(project.dir).as_posix()
    for existing in (path, path.with_suffix(".yml")):
        if existing.exists() and not force:
            raise ConfigError(
                f"{existing.relative_to(project.dir).as_posix()} already exists; edit it, "
                "choose another name, or pass --force to write it again from this file"
            )
    found = inspect_file(sample, connections=project.connections, config_file=relative)
    text = render(found, command=f"civiclake new source {department}/{stem} {sample.name}")
    _check(text, relative)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    inbox = Path(project.layout.landing_inbox(department, stem))
    inbox.mkdir(parents=True, exist_ok=True)
    landed = inbox / sample.name
    if landed.resolve() != sample.resolve():
        shutil.copy2(sample, landed)  # keeps the mtime: not mistaken for a file being written
    return NewSource(f"{department}/{stem}", path, landed, found)


def render(found: Inspection, *, command: str) -> str:
    """The source file's YAML, with the reasons for each guess as comments."""
    q = json.dumps  # a JSON string is a YAML string, quoted wherever YAML needs it
    lines = [
        f"# Written by `{command}` from {found.file.name}",
        f"# ({found.rows} rows, {len(found.columns)} columns). Lines marked `review` are guesses.",
        "type: files",
        f"format: {found.format}",
    ]
    where = (
        f"  # {found.date_part} in the name: the export's date"
        if found.date_part
        else "  # review: no date in the name, so the next export must have the same name"
    )
    lines.append(f"patterns: [{q(found.pattern)}]{where}")
    if found.csv is not None:
        csv = found.csv
        delimiter = "tab" if csv.delimiter == "\t" else csv.delimiter
        lines += [
            "csv:  # as DuckDB's sniffer read the sample",
            f"  delimiter: {q(delimiter)}",
            f"  encoding: {csv.encoding}",
            f"  header: {str(csv.header).lower()}",
            f"  skip_rows: {csv.skip_rows}"
            + ("  # title lines above the header" * bool(csv.skip_rows)),
        ]
    if found.sheet is not None:
        others = ", ".join(s for s in found.sheets if s != found.sheet)
        lines += [
            "excel:",
            f"  sheet: {q(found.sheet)}  # the sheet with most rows; others: {others}",
        ]
    if found.keys:
        best, *runners_up = found.keys
        lines.append(f"key: [{', '.join(best)}]  # review: unique and never empty in the sample")
        if runners_up:
            shown = "; ".join(", ".join(k) for k in runners_up[:5])
            lines.append(f"# other key candidates: {shown}")
        lines.append(
            "full_export: true  # each file is a whole export (history; missing = deleted)"
        )
    else:
        lines += [
            "# key: none found (no column or pair is unique and never empty in the sample),",
            "# so rows are appended as they come; set `key:` and `full_export: true` for history",
        ]
    if found.pii:
        lines.append("pii:  # masked for analysts; review each guess")
        lines += [f"  - {g.column}  # review: {g.reason}" for g in found.pii]
    else:
        lines.append("pii: []  # review: no column looked personal; list any that are")
    return "\n".join(lines) + "\n"


def _check(text: str, where: str) -> None:
    """The file loads as the source's config (a failure here is civiclake's bug, said so)."""
    import yaml

    from civiclake.config.loader import validate

    try:
        validate(yaml.safe_load(text), FilesSourceConfig, path=Path(where))
    except ConfigError as exc:
        raise ConfigError(
            f"the source file civiclake proposed does not load ({exc}); please report this, and "
            "write the file by hand meanwhile (docs/sources.md)"
        ) from None


__all__ = ["NewSource", "new_source", "render"]
