"""Damage to a Delta table found by reading its log and folder, not by failing on it.

A Delta table is its ``_delta_log/`` — one JSON commit per version, ``00000000000000000007.json``,
contiguous from the newest checkpoint (or 0) — plus the Parquet files the live commits add.
delta-rs and DuckDB report a table missing a piece with their own text (a Rust backtrace, "No
files found that match the pattern …"); :func:`inspect` names the piece instead:

* ``missing-commit``: a gap in the commit numbers (a commit in the middle was deleted);
* ``corrupt-commit``: a commit file that is not one JSON action per line (truncated, garbage);
* ``missing-file``: a data file the current version reads is not in the folder.

Only local tables are inspected file by file; for a table on object storage :func:`inspect`
returns nothing and the readers' own errors (translated by :class:`~civiclake.storage.TableStore`)
stand. The version the catalog recorded is compared with the log's by the catalog itself
(:meth:`civiclake.catalog.Catalog.check`), which knows it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal[
    "missing-commit", "corrupt-commit", "missing-file", "missing-table", "behind-catalog"
]

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")


@dataclass(frozen=True)
class Damage:
    """One thing wrong with a table: what, and the file it concerns (absolute path)."""

    kind: Kind
    file: str
    detail: str


def commit_file(uri: str, version: int) -> str:
    """The path of ``version``'s commit file in the table at ``uri``."""
    return f"{uri.rstrip('/')}/_delta_log/{version:020d}.json"


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _path(uri: str) -> Path:
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri)


def log_versions(uri: str) -> tuple[list[int], int | None]:
    """The commit versions present in a local table's log, and its newest checkpoint."""
    log = _path(uri) / "_delta_log"
    commits: list[int] = []
    checkpoint: int | None = None
    if not log.is_dir():
        return commits, checkpoint
    for entry in log.iterdir():
        if m := _COMMIT.match(entry.name):
            commits.append(int(m.group(1)))
        elif m := _CHECKPOINT.match(entry.name):
            checkpoint = max(checkpoint or 0, int(m.group(1)))
    return sorted(commits), checkpoint


def inspect_log(uri: str) -> list[Damage]:
    """Gaps and unreadable commits in a local table's log (see the module docstring)."""
    if not is_local(uri):
        return []
    commits, checkpoint = log_versions(uri)
    found: list[Damage] = []
    start = checkpoint if checkpoint is not None else 0
    present = set(commits)
    newest = max(commits, default=-1)
    for version in range(start + (checkpoint is not None), newest + 1):
        if version not in present:
            found.append(
                Damage(
                    "missing-commit",
                    commit_file(uri, version),
                    f"commit {version} is missing from the log (versions {start}–{newest})",
                )
            )
    for version in (v for v in commits if v >= start):
        problem = _unreadable(Path(commit_file(uri, version)))
        if problem:
            found.append(Damage("corrupt-commit", commit_file(uri, version), problem))
    return found


def unreadable_commit(uri: str, version: int) -> Damage | None:
    """``version``'s commit of a local table when it is not one JSON action per line (an
    empty file reads, to delta-rs, as a commit that changed nothing)."""
    if not is_local(uri):
        return None
    path = commit_file(uri, version)
    problem = _unreadable(Path(_path(path)))
    if problem is None or not Path(_path(path)).exists():
        return None
    return Damage("corrupt-commit", path, problem)


def _unreadable(path: Path) -> str | None:
    """Why a commit file cannot be read, or None when every line is a JSON action."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"commit file cannot be read ({exc.__class__.__name__})"
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "commit file is empty"
    for number, line in enumerate(lines, 1):
        try:
            action = json.loads(line)
        except json.JSONDecodeError:
            return f"line {number} of the commit file is not JSON (truncated or overwritten)"
        if not isinstance(action, dict) or not action:
            return f"line {number} of the commit file is not a Delta action"
    return None


def missing_files(paths: list[str]) -> list[Damage]:
    """The data files (absolute paths or ``file://`` URIs, as readers open them) not on disk;
    nothing for files on object storage."""
    return [
        Damage("missing-file", str(_path(p)), "a data file the table reads is missing")
        for p in paths
        if is_local(p) and not _path(p).exists()
    ]


__all__ = [
    "Damage",
    "Kind",
    "commit_file",
    "inspect_log",
    "log_versions",
    "missing_files",
    "unreadable_commit",
]
