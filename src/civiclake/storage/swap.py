"""Replacing a local table folder by one built beside it, so a kill at any point loses nothing.

``history rebuild`` builds the new table at ``<table>.rebuild`` and then needs two renames
(``<table>`` → ``<table>.old``, ``<table>.rebuild`` → ``<table>``): a process stopped between
them left no table at ``<table>``, and the next run started a near-empty one there. The swap
is therefore a small protocol with three files beside the table:

* ``<table>.rebuilding`` — a lock the rebuilding process holds (``flock``) from the start of
  the build to the end of the swap. The kernel drops it when the process dies, so "locked"
  means a rebuild is alive and "unlocked" means any folders it left are abandoned.
* ``<table>.swap`` — the commit point, written (atomically) once the new table is complete.
  Without it a ``.rebuild`` folder is a build that did not finish: it is removed and the old
  table stays. With it the swap is rolled forward: whichever renames are still to do are done,
  ``.old`` is removed, and the marker last.
* ``<table>.old`` — the old table, from the first rename until the swap is finished.

:func:`finish` is what every writer calls before a commit (``Catalog.check``): it completes or
rolls back an interrupted swap, so a run never writes a fresh table beside the two.
:func:`readable` is what readers call: the folder that holds a whole table right now, without
moving anything (between the renames that is ``.rebuild``, the complete new table).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from civiclake.storage.exceptions import StorageError

BUILD, OLD, MARKER, LOCK = ".rebuild", ".old", ".swap", ".rebuilding"


def _beside(target: str, suffix: str) -> Path:
    return Path(target.rstrip("/") + suffix)


def _is_table(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def readable(uri: str) -> str:
    """``uri``, or while a swap into it is unfinished, the folder holding a whole table."""
    if "://" in uri or _is_table(Path(uri)):
        return uri
    built, old = _beside(uri, BUILD), _beside(uri, OLD)
    if _beside(uri, MARKER).exists() and _is_table(built):
        return str(built)  # complete (the marker says so), not yet renamed into place
    if _is_table(old):
        return str(old)
    return uri


@contextmanager
def rebuilding(target: str) -> Iterator[str]:
    """Hold ``target``'s rebuild lock while a new table is built; yields the folder to build in.

    An earlier swap left unfinished is finished first, and a build that never finished is
    removed, so the build starts clean. Raise :class:`StorageError` when another process is
    rebuilding the same table.
    """
    with _locked(target, wait=False) as held:
        if not held:
            raise StorageError(
                f"{target} is being rebuilt by another process ({_beside(target, LOCK)} is "
                "locked); wait for it to finish"
            )
        _recover(target, on_swapped=None)
        built = _beside(target, BUILD)
        shutil.rmtree(built, ignore_errors=True)
        try:
            yield str(built)
        finally:
            _beside(target, LOCK).unlink(missing_ok=True)


def swap_in(target: str, *, on_swapped: Callable[[], None]) -> None:
    """Inside :func:`rebuilding`: put the complete build in ``target``'s place.

    ``on_swapped`` runs once the new table is in place and before the old one is removed (the
    catalog records the new table's version there), and again by :func:`finish` if a kill
    lands after the renames and before the marker is gone.
    """
    built, old, marker = _beside(target, BUILD), _beside(target, OLD), _beside(target, MARKER)
    if not _is_table(built):
        raise StorageError(f"nothing was built at {built} to swap into {target}")
    shutil.rmtree(old, ignore_errors=True)  # not a swap's (no marker): a stale leftover
    _write_atomically(
        marker,
        json.dumps({"target": target, "built": str(built), "at": datetime.now(UTC).isoformat()}),
    )
    _roll_forward(target, on_swapped)


def finish(target: str, *, on_swapped: Callable[[], None] | None = None) -> bool:
    """Before writing ``target``: finish a swap a killed rebuild left half done.

    True when a swap was rolled forward (``target`` now holds the rebuilt table, and
    ``on_swapped`` ran). Nothing happens while a rebuild is alive (its lock is held): that
    process finishes its own swap.
    """
    if "://" in target:
        return False
    beside = [_beside(target, s) for s in (BUILD, OLD, MARKER, MARKER + ".tmp", LOCK)]
    if not any(p.exists() for p in beside):
        return False  # the usual case: no file is opened
    with _locked(target, wait=False) as held:
        if not held:
            return False
        try:
            return _recover(target, on_swapped=on_swapped)
        finally:
            _beside(target, LOCK).unlink(missing_ok=True)


def _recover(target: str, *, on_swapped: Callable[[], None] | None) -> bool:
    """With the lock held: roll a committed swap forward, or clear an uncommitted one."""
    built, old, marker = _beside(target, BUILD), _beside(target, OLD), _beside(target, MARKER)
    here = Path(target)
    marker.with_name(marker.name + ".tmp").unlink(missing_ok=True)  # a marker never written
    if marker.exists():
        _roll_forward(target, on_swapped or (lambda: None))
        return True
    # no marker: the build never finished. The old table stays (put back if the old
    # two-rename code had moved it aside), the unfinished build goes.
    if not _is_table(here) and _is_table(old):
        shutil.rmtree(here, ignore_errors=True)
        os.rename(old, here)
    shutil.rmtree(built, ignore_errors=True)
    if _is_table(here):
        shutil.rmtree(old, ignore_errors=True)
    return False


def _roll_forward(target: str, on_swapped: Callable[[], None]) -> None:
    """Do what is left of: ``target`` → ``.old``, ``.rebuild`` → ``target``, then tidy up.

    Under the marker ``.rebuild`` is complete, so its presence says the second rename is
    still to do; ``.old`` present says the first one is done.
    """
    built, old, marker = _beside(target, BUILD), _beside(target, OLD), _beside(target, MARKER)
    here = Path(target)
    if built.exists():
        if here.exists() and not old.exists():
            os.rename(here, old)
        elif here.exists():  # cannot happen under the protocol: keep both, say so
            raise StorageError(
                f"{target}, {old} and {built} all exist while a swap is recorded in {marker}; "
                f"keep the one you trust as {target}, remove the others and {marker}"
            )
        os.rename(built, here)
        _sync_dir(here.parent)
    if not _is_table(here):
        raise StorageError(
            f"{marker} records a swap into {target}, but neither {target} nor {built} holds a "
            f"table; restore {target} from {old} or a backup, then remove {marker}"
        )
    on_swapped()
    shutil.rmtree(old, ignore_errors=True)
    marker.unlink(missing_ok=True)
    _sync_dir(here.parent)


@contextmanager
def _locked(target: str, *, wait: bool) -> Iterator[bool]:
    """``flock`` on ``<target>.rebuilding``: yields False when another process holds it."""
    path = _beside(target, LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(path, "a")  # noqa: SIM115 - held for the block
    try:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock (history rebuild is local-only anyway)
            yield True
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a power cut keeps them)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["finish", "readable", "rebuilding", "swap_in"]
