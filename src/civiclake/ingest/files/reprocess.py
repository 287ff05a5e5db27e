"""``civiclake files reprocess``: a files source's table rebuilt from landing's kept copies.

Landing keeps a copy of every file a files source loaded, and the ledger (``loaded_files``)
records its path and sha256, so a raw table whose Delta log or data files were damaged can
be written again exactly: the damaged table (and its ``__rejected`` companion) is moved
aside to ``<table>.damaged-<UTC time>`` — kept, never deleted — and every kept copy is
loaded again in the order it was first loaded, with its first import id, through the same
exactly-once write as a run (a repair stopped half way is finished by running it again).
A kept copy that is gone or no longer matches its sha256 stops the repair before anything
moves, naming the file.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files.load import load_file
from civiclake.ingest.landing import Received, sha256_of

if TYPE_CHECKING:
    from civiclake.ingest.files.source import FilesSource
    from civiclake.steps import Counts, RunContext
    from civiclake.storage import DatasetRef


def reprocess(source: FilesSource, ctx: RunContext) -> Counts:
    """Rebuild ``source``'s raw table and its rejects from the ledger's kept copies."""
    from civiclake.steps import Counts

    project = source.project
    ref = source.dataset
    rejected = ref.sibling(f"{ref.name}__rejected")
    if not project.layout.is_local:
        raise IngestError(
            f"{ref.qualified}: reprocessing needs a local storage.root (it is "
            f"{project.layout.root}); restore the table with your storage's tools"
        )
    ledger = [
        row for row in project.store.loaded_files(source.name) if row["dataset"] == ref.qualified
    ]
    if not ledger:
        raise IngestError(
            f"{ref.qualified}: the ledger records no file loaded by {source.name}, so there is "
            "nothing in landing to rebuild it from; restore its folder from a backup"
        )
    kept = [Path(project.layout.join(str(row["archived_path"]))) for row in ledger]
    for row, path in zip(ledger, kept, strict=True):
        if not path.exists() or sha256_of(path) != row["sha256"]:
            state = "is gone" if not path.exists() else "no longer matches its recorded sha256"
            raise IngestError(
                f"{ref.qualified} was not reprocessed: landing's kept copy {path} {state}; "
                "restore the original file there (from the sender or a backup) and run "
                f"`civiclake files reprocess {ref.qualified}` again. Nothing was moved"
            )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = [_move_aside(project.catalog.uri(r), stamp) for r in (ref, rejected)]
    counts = Counts()
    with project.catalog.replacing(ref, rejected):
        for done, (row, path) in enumerate(zip(ledger, kept, strict=True), start=1):
            received = Received(Path(str(row["path"])), int(row["size_bytes"]), str(row["sha256"]))
            first = replace(ctx, import_id=str(row["import_id"]))
            loaded = load_file(source, first, received, path, str(row["archived_path"]))
            counts.rows_in += loaded.rows + loaded.rejected
            counts.rows_out += loaded.written
            counts.rows_rejected += loaded.rejected
            counts.bytes_written += loaded.bytes_written
            ctx.progress(done, len(ledger))
    if not project.catalog.exists(rejected):
        project.catalog.forget([rejected.qualified])  # no file had rejects this time
    kept_aside = [p for p in aside if p is not None]
    counts.notes.append(
        f"{ref.qualified} reprocessed from {len(ledger)} kept landing file(s)"
        + (f"; the damaged table was kept at {', '.join(kept_aside)}" if kept_aside else "")
    )
    return counts


def _move_aside(uri: str, stamp: str) -> str | None:
    """Rename a local table folder to ``<uri>.damaged-<stamp>``; None when there is none."""
    path = Path(uri)
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    path.rename(target)
    return str(target)


def files_source_of(sources: list[object], dataset: DatasetRef) -> FilesSource | None:
    from civiclake.ingest.files.source import FilesSource

    for source in sources:
        if isinstance(source, FilesSource) and source.dataset == dataset:
            return source
    return None


__all__ = ["files_source_of", "reprocess"]
