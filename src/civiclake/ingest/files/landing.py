"""Finding dropped files and keeping them, unmodified, in the landing archive.

Invariant 1 (nothing is lost) is kept here: every file a source loads is
first kept as received under ``landing/<department>/<source>/<YYYY-MM-DD>/``,
and that archived copy is what gets parsed, so ``_source_file`` on every row
names a file that still exists. A file in the department's inbox is moved by
hard link (no copy of a large export); the inbox name is removed only after
the ledger records the load, so a crash in between re-finds the file and
recognises it by its hash.

Only local roots are handled now; object-store landing (``s3://``) comes in
a later release and gets its own :class:`Landing` implementation.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from civiclake.ingest.exceptions import IngestError, SourceUnavailableError

_CHUNK = 1 << 20
_IGNORED = ("~$*", ".~lock*", "*.tmp", "*.part", "*.crdownload", ".*")
"""Office lock files, partial downloads and hidden files are never data."""


@dataclass(frozen=True)
class Candidate:
    """A file found in the folder, before it is hashed."""

    path: Path
    size: int
    mtime: float


@dataclass(frozen=True)
class Received:
    """A file hashed while unchanged: safe to load."""

    path: Path
    size: int
    sha256: str


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Case-insensitive glob match that also drops temp, lock and hidden files."""
    lowered = name.lower()
    if any(fnmatch.fnmatchcase(lowered, p) for p in _IGNORED):
        return False
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in patterns)


def scan(folder: Path, patterns: Sequence[str]) -> list[Candidate]:
    """Files at the top level of ``folder`` matching ``patterns``, oldest first.

    Dated archive subfolders sit inside the inbox and are not descended into.
    """
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SourceUnavailableError(f"cannot list {folder}: {exc}") from exc
    found = []
    for entry in entries:
        if entry.is_file() and matches(entry.name, patterns):
            st = entry.stat()
            found.append(Candidate(Path(entry.path), st.st_size, st.st_mtime))
    return sorted(found, key=lambda c: (c.mtime, c.path.name))


def age_seconds(candidate: Candidate) -> float:
    return time.time() - candidate.mtime


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def receive(candidate: Candidate) -> Received | None:
    """Hash the file; None when it changed while being read (still being written)."""
    sha = sha256_of(candidate.path)
    st = candidate.path.stat()
    if st.st_size != candidate.size or st.st_mtime != candidate.mtime:
        return None
    return Received(candidate.path, candidate.size, sha)


class LocalLanding:
    """Landing folders on a local (or mounted) file system."""

    def __init__(self, archive_dir: Path) -> None:
        self.archive_dir = archive_dir

    def keep(self, received: Received, *, move: bool) -> Path:
        """Put the file in the dated archive; returns the archived path.

        ``move`` hard-links instead of copying (the caller removes the inbox
        name later). A different file already archived under the same name
        gets a short hash suffix: ``rent_2026_01.1a2b3c4d.csv``.
        """
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        target = self.archive_dir / received.path.name
        if target.exists() and not _same_content(target, received):
            stem, suffix = received.path.stem, received.path.suffix
            target = self.archive_dir / f"{stem}.{received.sha256[:8]}{suffix}"
        if target.exists() and _same_content(target, received):
            return target  # kept by an earlier, interrupted run
        partial = target.with_name(f".{target.name}.part")
        try:
            if move:
                try:
                    os.link(received.path, partial)
                except OSError:  # another file system, or links not allowed
                    shutil.copyfile(received.path, partial)
            else:
                shutil.copyfile(received.path, partial)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise IngestError(
                f"cannot keep {received.path} in the landing archive {self.archive_dir}: {exc}"
            ) from exc
        return target

    @staticmethod
    def remove_original(path: Path) -> None:
        """Remove an inbox file once the ledger holds it (missing is fine: a rerun)."""
        path.unlink(missing_ok=True)


def _same_content(path: Path, received: Received) -> bool:
    return path.stat().st_size == received.size and sha256_of(path) == received.sha256


def relative_to_root(path: Path, root: str) -> str:
    """``landing/housing/rent/2026-01-31/x.csv`` for rows' ``_source_file``."""
    try:
        return path.resolve().relative_to(Path(root)).as_posix()
    except ValueError:
        return path.resolve().as_posix()
