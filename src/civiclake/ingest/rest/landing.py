"""Keeping API responses unmodified in landing, and the batches they were applied in.

Each page body is written as received (temp file + rename, so a crash never
leaves half a file under a real name). A file never overwrites a different
one: a second body under the same name gets a short hash suffix.

A *batch* is the ordered list of landing files one run applied in one go.
Its manifest, ``batch-<seq>.json`` next to the files, is written before the
batch is applied, so it doubles as a write-ahead record: a run that finds a
manifest newer than its cursor's last applied batch applies it first (the
application id makes that a no-op if the crash came after the commit). The
sequence numbers give the original import order for a rebuild from landing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.landing import relative_to_root, sha256_of

_MANIFEST = re.compile(r"^batch-(\d+)\.json$")
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Kept:
    path: Path
    sha256: str
    size: int


def keep_bytes(folder: Path, name: str, body: bytes) -> Kept:
    """Write ``body`` to ``folder/name`` atomically; returns where it was kept.

    The same content already there is reused (an interrupted run fetched it);
    different content gets ``<stem>.<sha256[:8]><suffix>``.
    """
    digest = hashlib.sha256(body).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists() and not _same(target, digest, len(body)):
        stem, dot, suffix = name.rpartition(".")
        target = folder / (f"{stem}.{digest[:8]}.{suffix}" if dot else f"{name}.{digest[:8]}")
    if target.exists() and _same(target, digest, len(body)):
        return Kept(target, digest, len(body))
    partial = target.with_name(f".{target.name}.part")
    try:
        with partial.open("wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise IngestError(f"cannot keep {target.name} in landing ({folder}): {exc}") from exc
    return Kept(target, digest, len(body))


def _same(path: Path, digest: str, size: int) -> bool:
    return path.stat().st_size == size and sha256_of(path) == digest


@dataclass(frozen=True)
class LandedFile:
    """One page of a batch, as kept in landing."""

    path: str
    """Relative to the storage root (what rows carry as ``_source_file``)."""
    sha256: str
    size: int
    url: str
    status: int
    page: int
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """The landing files one run applied together, in order."""

    seq: int
    app_id: str
    import_id: str
    today: str
    """The run's business date (records of this day or later were left for the next run)."""
    recorded_at: str
    files: list[LandedFile]
    state: dict[str, Any] | None = None
    """The source's cursor once this batch is applied (None: leave the cursor as it is)."""
    notes: list[str] = field(default_factory=list)


def batch_id(prefix: str, hashes: Iterable[str]) -> str:
    """``<prefix>:`` + SHA-256 over the files' content hashes in order: same files, same id."""
    digest = hashlib.sha256()
    for sha in hashes:
        digest.update(sha.encode())
        digest.update(b"\n")
    return f"{prefix}:{digest.hexdigest()}"


class BatchLog:
    """The manifests of one dataset's batches under ``folder`` (one date folder per run)."""

    def __init__(self, folder: Path, root: str) -> None:
        self.folder = folder
        self.root = root

    def batches(self, after: int = 0) -> list[Batch]:
        """Every recorded batch with a sequence number above ``after``, oldest first."""
        found: list[tuple[int, Path]] = []
        if self.folder.is_dir():
            for path in self.folder.glob("*/batch-*.json"):
                match = _MANIFEST.match(path.name)
                if match and int(match.group(1)) > after:
                    found.append((int(match.group(1)), path))
        return [self._read(path) for _, path in sorted(found)]

    def last_seq(self) -> int:
        seqs = [
            int(m.group(1))
            for p in (self.folder.glob("*/batch-*.json") if self.folder.is_dir() else [])
            if (m := _MANIFEST.match(p.name))
        ]
        return max(seqs, default=0)

    def record(
        self,
        date_folder: str,
        *,
        app_id: str,
        import_id: str,
        today: str,
        files: Sequence[LandedFile],
        state: dict[str, Any] | None,
        notes: Sequence[str] = (),
    ) -> Batch:
        """Write the next batch's manifest (atomically) before it is applied."""
        batch = Batch(
            seq=self.last_seq() + 1,
            app_id=app_id,
            import_id=import_id,
            today=today,
            recorded_at=datetime.now(UTC).isoformat(),
            files=list(files),
            state=state,
            notes=list(notes),
        )
        body = json.dumps({"version": MANIFEST_VERSION, **asdict(batch)}, indent=1).encode()
        keep_bytes(self.folder / date_folder, f"batch-{batch.seq:06d}.json", body)
        return batch

    def landed(
        self, kept: Kept, *, url: str, status: int, page: int, params: dict[str, str]
    ) -> LandedFile:
        return LandedFile(
            path=relative_to_root(kept.path, self.root),
            sha256=kept.sha256,
            size=kept.size,
            url=url,
            status=status,
            page=page,
            params=params,
        )

    def path_of(self, landed: LandedFile) -> Path:
        return Path(self.root) / landed.path

    def _read(self, path: Path) -> Batch:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data.pop("version", None)
            data["files"] = [LandedFile(**f) for f in data["files"]]
            return Batch(**data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise IngestError(
                f"{path}: unreadable batch manifest ({exc}); it records which landing files "
                "were applied together. Restore it from a backup, or move it aside to have the "
                "next run fetch the data again"
            ) from exc


__all__ = ["Batch", "BatchLog", "Kept", "LandedFile", "batch_id", "keep_bytes"]
