"""Finding dropped files and keeping them, unmodified, in the landing archive.

Invariant 1 (nothing is lost) is kept here: every file a source loads is
first kept as received under ``landing/<department>/<source>/<YYYY-MM-DD>/``,
and that archived copy is what gets parsed, so ``_source_file`` on every row
names a file that still exists. A file in the department's inbox is moved by
hard link (no copy of a large export); the inbox name is removed only after
the ledger records the load, so a crash in between re-finds the file and
recognises it by its hash.

A file is taken only when it looks complete: older than ``min_age_seconds`` and the
same size and mtime before and after it is hashed. No such test can tell a finished file
from one whose writer has paused with it still open, so its hash is checked again after
loading, and a file that changed after it was taken is loaded again as what it really is:

* in the landing inbox the kept copy is a hard link to the writer's file, so the bytes
  it writes later land in the kept copy; each run looks at the kept copies loaded in the
  last :data:`REVISIT_DAYS` days, and one whose size or mtime moved since its load is
  loaded again (:meth:`Inbox.revisit`);
* in a watched folder the writer's bytes land in the original, which the next scan finds
  with new content; content that *starts with* the bytes of the last file loaded from that
  path continues it (a stalled writer, or a log that grows).

Either way the new load *replaces* the rows of the one it continues, in the same commit
(by ``_source_file``; the ledger entry is replaced too), so no row is lost or counted twice
and every row names a kept copy holding exactly the bytes it was loaded from.

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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from civiclake.ingest.exceptions import IngestError, SourceUnavailableError

if TYPE_CHECKING:
    import logging

    from civiclake.metadata import MetadataStore

_CHUNK = 1 << 20
_IGNORED = ("~$*", ".~lock*", "*.tmp", "*.part", "*.crdownload", ".*")
"""Office lock files, partial downloads and hidden files are never data."""
REVISIT_DAYS = 7
"""How long after its load a kept copy is watched for a writer that was not done with it."""


@dataclass(frozen=True)
class Continued:
    """The ledger entry a file's content continues: it was taken before its writer finished."""

    sha256: str
    source_file: str
    """Its kept copy, as rows' ``_source_file`` name it."""


@dataclass(frozen=True)
class Candidate:
    """A file found in the folder, before it is hashed."""

    path: Path
    size: int
    mtime: float
    continues: Continued | None = None
    """Set by :meth:`Inbox.revisit`: ``path`` is a kept copy that grew after its load."""


@dataclass(frozen=True)
class Received:
    """A file hashed while unchanged: safe to load."""

    path: Path
    size: int
    sha256: str
    mtime: float = 0.0
    replaces: tuple[str, ...] = ()
    """``_source_file`` values whose rows this file's rows replace, in the same commit (its
    own among them): the partial load of a file taken while still being written."""


def replaced_where(replaces: Sequence[str]) -> str | None:
    """The predicate on ``_source_file`` matching the rows a load replaces (``replaces`` of
    :class:`Received`); None for a load that replaces nothing (an append)."""
    if not replaces:
        return None
    from civiclake.lineage import SOURCE_FILE
    from civiclake.naming import quote
    from civiclake.storage.staged import sql_literal

    return f"{quote(SOURCE_FILE)} IN ({', '.join(sql_literal(f) for f in replaces)})"


def ignored(name: str) -> bool:
    """Temp, lock and hidden files: never data, never reported."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, p) for p in _IGNORED)


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Case-insensitive glob match that also drops temp, lock and hidden files."""
    lowered = name.lower()
    if ignored(name):
        return False
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in patterns)


def require_folder(folder: Path, config_file: str) -> None:
    """A configured ``folder:`` must exist: a typo or an unmounted drive is not "no files"."""
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise IngestError(
            f"{config_file}, key `folder`: the folder {folder} {state}. Nothing was loaded; "
            "create it, mount the drive it is on, or correct `folder:`"
        )


def unmatched_notes(
    folder: Path, patterns: Sequence[str], shown: Sequence[str], config_file: str
) -> list[str]:
    """One line per file in the inbox ``folder`` matching none of ``patterns`` (``shown``:
    the patterns as the config file writes them)."""
    return [
        f"{name}: matches none of the patterns {list(shown)} in {config_file}; left in the "
        "inbox (rename it, or add a pattern)"
        for name in unmatched(folder, patterns)
    ]


def unmatched(folder: Path, patterns: Sequence[str]) -> list[str]:
    """Names of files at the top of ``folder`` that match none of ``patterns`` (temp, lock
    and hidden files left out): dropped in the inbox, they would wait there unseen."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(
        e.name
        for e in entries
        if e.is_file() and not ignored(e.name) and not matches(e.name, patterns)
    )


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


def prefix_sha256(path: Path, size: int) -> str:
    """The sha256 of the first ``size`` bytes of ``path``."""
    digest = hashlib.sha256()
    left = size
    with path.open("rb") as fh:
        while left > 0 and (chunk := fh.read(min(_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def receive(candidate: Candidate) -> Received | None:
    """Hash the file; None when it changed while being read (still being written)."""
    sha = sha256_of(candidate.path)
    st = candidate.path.stat()
    if st.st_size != candidate.size or st.st_mtime != candidate.mtime:
        return None
    return Received(candidate.path, candidate.size, sha, candidate.mtime)


def changed_since(received: Received, path: Path) -> bool:
    """Whether ``path`` no longer holds exactly the bytes ``received`` hashed."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False  # its name was removed: the bytes are wherever the ledger says
    if st.st_size != received.size or st.st_mtime != received.mtime:
        return True
    return sha256_of(path) != received.sha256


class LocalLanding:
    """Landing folders on a local (or mounted) file system."""

    def __init__(self, archive_dir: Path) -> None:
        self.archive_dir = archive_dir

    def keep(self, received: Received, *, move: bool) -> Path | None:
        """Put the file in the dated archive; returns the archived path, or None when the
        file changed between its hashing and the copy (it is still being written).

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
            linked = False
            if move:
                try:
                    os.link(received.path, partial)
                    linked = True
                except OSError:  # another file system, or links not allowed
                    shutil.copyfile(received.path, partial)
            else:
                shutil.copyfile(received.path, partial)
            # the writer may have moved on since the hash: a link must still be the file
            # hashed, a copy must hold exactly its bytes
            if changed_since(received, partial) if linked else not _same_content(partial, received):
                partial.unlink()
                return None
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
Change = Literal["", "continued", "changed while loaded"]


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
    change: Change = ""
    """``continued``: the file was still being written when it was taken before, and its
    rows replaced that partial load's; ``changed while loaded``: the file changed under the
    load, which the next run loads again."""

    def note(self, name: str, what: str = "rows") -> str | None:
        """The step note ``change`` calls for (``what``: rows, events), or None."""
        if self.change == "continued":
            return (
                f"{name} was still being written when it was taken before: loaded again, "
                f"complete, its {what} replacing the partial load's"
            )
        if self.change == "changed while loaded":
            return (
                f"{name} changed while it was loaded (a writer still has it open?): it is "
                "loaded again, as it then is, by the next run"
            )
        return None


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
    same_name_only: bool = False
    """Content already loaded counts as loaded only under the same file name: a full
    export re-sent under the next month's name is that month's export, identical or not."""

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
        starts work that may overlap the hashing (sniffing a CSV's dialect).

        ``received.replaces`` names the rows ``load`` must replace (see the module's
        docstring); after the load the file is hashed again, and one that changed under
        it is left for the next run to load again."""
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
        revisited = candidate.continues is not None
        known = self.store.loaded_file(self.source, received.sha256)
        if known is not None and self.same_name_only and Path(str(known["path"])).name != name:
            known = None  # the same rows as another export, at another time: a new export
        if known is not None:
            self.log.info(
                "%s: same content as %s, loaded %s; skipped",
                name,
                known["path"],
                known["loaded_at"],
            )
            if self.from_inbox and not revisited:
                self.archive.keep(received, move=True)
                self.archive.remove_original(candidate.path)
            return Skipped("already loaded", known_as=str(known["path"]))
        continues = candidate.continues or self._continues(candidate, received)
        if revisited and continues is not None:
            kept = candidate.path  # already the kept copy
            source_file = continues.source_file
        else:
            archived = self.archive.keep(received, move=self.from_inbox)
            if archived is None:
                return Skipped("still being written")
            kept, source_file = archived, relative_to_root(archived, self.root)
        if continues is not None:
            replaced = tuple(dict.fromkeys((continues.source_file, source_file)))
            received = replace(received, replaces=replaced)
        result = load(received, kept, source_file)
        loaded, rejected = counts(result)
        # a link shares the writer's inode; a copy is private, so look at the original
        changed = changed_since(received, kept if revisited or self.from_inbox else received.path)
        if changed:
            self.log.warning(
                "%s changed while it was loaded (a writer still has it open?): it is "
                "loaded again, as it then is, by the next run",
                name,
            )
        self.store.record_loaded_file(
            source=self.source,
            dataset=self.dataset,
            path=self._original_path(candidate),
            archived_path=source_file,
            sha256=received.sha256,
            size_bytes=received.size,
            import_id=import_id,
            rows_loaded=loaded,
            rows_rejected=rejected,
            supersedes=continues.sha256 if continues is not None else None,
        )
        if self.from_inbox and not revisited:
            self.archive.remove_original(candidate.path)
        if changed:
            return Loaded(result, "changed while loaded")
        return Loaded(result, "continued" if continues is not None else "")

    def revisit(self) -> list[Candidate]:
        """Kept copies loaded in the last :data:`REVISIT_DAYS` days whose size or mtime
        moved since: their writer still had the file open when it was taken, and the kept
        copy (a hard link to it) got the rest. Each continues its ledger entry."""
        if not self.from_inbox:
            return []  # a watched folder's writer writes the original, which scan finds
        since = datetime.now(UTC) - timedelta(days=REVISIT_DAYS)
        found = []
        for entry in self.store.loaded_files(self.source):
            loaded_at = entry["loaded_at"]
            if loaded_at.tzinfo is None:  # SQLite keeps no time zone; all are UTC
                loaded_at = loaded_at.replace(tzinfo=UTC)
            if loaded_at < since:
                continue
            path = Path(self.root) / str(entry["archived_path"])
            try:
                st = path.stat()
            except OSError:
                continue  # gone: the doctor reports it
            if st.st_size != entry["size_bytes"] or st.st_mtime > loaded_at.timestamp():
                continued = Continued(str(entry["sha256"]), str(entry["archived_path"]))
                found.append(Candidate(path, st.st_size, st.st_mtime, continued))
        return found

    def _continues(self, candidate: Candidate, received: Received) -> Continued | None:
        """In a watched folder, the ledger entry loaded from the same path whose bytes this
        file starts with. (A name dropped in the inbox again is a new file: the writer of
        one taken from there writes its kept copy, which :meth:`revisit` finds.)"""
        if self.from_inbox:
            return None
        for entry in reversed(self.store.loaded_files(self.source, path=str(candidate.path))):
            size = int(entry["size_bytes"])
            if size < received.size and prefix_sha256(candidate.path, size) == entry["sha256"]:
                return Continued(str(entry["sha256"]), str(entry["archived_path"]))
        return None

    def _original_path(self, candidate: Candidate) -> str:
        """The path the ledger names a file by: where it was first found."""
        if candidate.continues is not None:
            entry = self.store.loaded_file(self.source, candidate.continues.sha256)
            if entry is not None:
                return str(entry["path"])
        return str(candidate.path)
