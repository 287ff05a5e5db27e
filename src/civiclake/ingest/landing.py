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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from civiclake.ingest.exceptions import IngestError, SourceUnavailableError

if TYPE_CHECKING:
    import logging

    from civiclake.metadata import MetadataStore

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


# -- the inbox protocol: one file, from found to recorded --------------------------------
T = TypeVar("T")

SkipReason = Literal["empty", "still being written", "already loaded"]


@dataclass(frozen=True)
class Skipped:
    """A file left where it is (or archived as a duplicate), with why."""

    reason: SkipReason
    known_as: str = ""
    """For ``already loaded``: the path the same content was loaded from."""


@dataclass(frozen=True)
class Loaded(Generic[T]):
    value: T
    """What the source's ``load`` returned."""


@dataclass(frozen=True)
class Inbox:
    """Where one source's files come from and go: the ledger, the archive, the rules.

    :meth:`take` is the one protocol every file-fed source follows (files, events):
    skip an empty or young file, hash it while unchanged, recognise content already
    loaded (by hash, under any name), keep the file in the dated archive, load the
    archived copy, record it in the ``loaded_files`` ledger, and only then remove the
    inbox name — so a crash at any point re-finds the file and loads it once.
    """

    source: str
    """The step name the ledger files loads under."""
    dataset: str
    archive: LocalLanding
    root: str
    """The storage root, for rows' ``_source_file``."""
    from_inbox: bool
    """Files are moved out of the folder (the landing inbox), not copied (a watched folder)."""
    min_age_seconds: float
    store: MetadataStore
    log: logging.Logger

    def take(
        self,
        candidate: Candidate,
        load: Callable[[Received, Path, str], T],
        counts: Callable[[T], tuple[int, int]],
        *,
        import_id: str,
        before_hash: Callable[[Candidate], None] | None = None,
    ) -> Loaded[T] | Skipped:
        """Take one file through the protocol; ``load(received, kept, source_file)`` writes
        it and ``counts(result)`` says its (rows loaded, rows rejected). ``before_hash``
        starts work that may overlap the hashing (sniffing a CSV's dialect)."""
        name = candidate.path.name
        if candidate.size == 0:
            return Skipped("empty")
        if age_seconds(candidate) < self.min_age_seconds:
            return Skipped("still being written")
        if before_hash is not None:
            before_hash(candidate)
        received = receive(candidate)
        if received is None:  # changed while being hashed
            return Skipped("still being written")
        known = self.store.loaded_file(self.source, received.sha256)
        if known is not None:
            self.log.info(
                "%s: same content as %s, loaded %s; skipped",
                name,
                known["path"],
                known["loaded_at"],
            )
            if self.from_inbox:
                self.archive.keep(received, move=True)
                self.archive.remove_original(candidate.path)
            return Skipped("already loaded", known_as=str(known["path"]))
        kept = self.archive.keep(received, move=self.from_inbox)
        source_file = relative_to_root(kept, self.root)
        result = load(received, kept, source_file)
        loaded, rejected = counts(result)
        self.store.record_loaded_file(
            source=self.source,
            dataset=self.dataset,
            path=str(candidate.path),
            archived_path=source_file,
            sha256=received.sha256,
            size_bytes=received.size,
            import_id=import_id,
            rows_loaded=loaded,
            rows_rejected=rejected,
        )
        if self.from_inbox:
            self.archive.remove_original(candidate.path)
        return Loaded(result)
