"""``civiclake files reprocess``: a files source's table rebuilt from landing's kept copies.

Landing keeps a copy of every file a files source loaded, and the ledger (``loaded_files``)
records its path and sha256, so a raw table whose Delta log or data files were damaged can
be written again exactly: the damaged table (and its ``__rejected`` companion) is moved
aside to ``<table>.damaged-<UTC time>`` — kept, never deleted — and every kept copy is
loaded again in the order it was first loaded, with its first import id, through the same
exactly-once write as a run (a repair stopped half way is finished by running it again).
A kept copy that is gone or no longer matches its sha256 stops the repair before anything
moves, naming the file.

After a config fix (a `columns:` type, `renames:`, a CSV option), the same command
reloads with the config as it now is, so the tables are what a clean load would give.
Naming files (``civiclake files reprocess housing/rent_accounts rent_2026-03.csv``)
reloads just those: their rows (and rejects) are replaced in one commit each. A full
export's history is always rebuilt from every export, since each one is compared with
the one before it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files.load import load_file
from civiclake.ingest.landing import Received, sha256_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from civiclake.ingest.files.source import FilesSource
    from civiclake.steps import Counts, RunContext
    from civiclake.storage import DatasetRef


def reprocess(source: FilesSource, ctx: RunContext, files: Sequence[str] = ()) -> Counts:
    """Rebuild ``source``'s raw table and its rejects from the ledger's kept copies, or
    reload just ``files`` (names as they arrived, or as kept in landing)."""
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
    chosen = _chosen(ledger, files, ref.qualified) if files else ledger
    kept = [Path(project.layout.join(str(row["archived_path"]))) for row in chosen]
    _check_kept(chosen, kept, ref)
    if files and not source.config.full_export:
        return _reload(source, ctx, chosen, kept)
    kept = [Path(project.layout.join(str(row["archived_path"]))) for row in ledger]
    _check_kept(ledger, kept, ref)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = [_move_aside(project.catalog.uri(r), stamp) for r in (ref, rejected)]
    counts = Counts()
    if source.config.full_export:
        from civiclake.ingest.files.exports import forget_exports

        forget_exports(source)  # the replay records each export's time again
        if files:
            counts.notes.append(
                f"{ref.qualified} is a full export's history: rebuilt from all "
                f"{len(ledger)} export(s), so later months are compared with the corrected one"
            )
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


def _check_kept(rows: list[dict[str, Any]], kept: list[Path], ref: DatasetRef) -> None:
    """Every kept copy is there with its recorded sha256, or nothing moves."""
    for row, path in zip(rows, kept, strict=True):
        if not path.exists() or sha256_of(path) != row["sha256"]:
            state = "is gone" if not path.exists() else "no longer matches its recorded sha256"
            raise IngestError(
                f"{ref.qualified} was not reprocessed: landing's kept copy {path} {state}; "
                "restore the original file there (from the sender or a backup) and run "
                f"`civiclake files reprocess {ref.qualified}` again. Nothing was moved"
            )


def _chosen(
    ledger: list[dict[str, Any]], files: Sequence[str], dataset: str
) -> list[dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for row in ledger:
        by_name[Path(str(row["path"])).name] = row
        by_name[Path(str(row["archived_path"])).name] = row
    unknown = [f for f in files if Path(f).name not in by_name]
    if unknown:
        loaded = sorted({Path(str(r["path"])).name for r in ledger})
        raise IngestError(
            f"{dataset}: no loaded file is called {', '.join(unknown)}; the files loaded are "
            f"{', '.join(loaded[:20])}{' …' if len(loaded) > 20 else ''}"
        )
    picked = {id(by_name[Path(f).name]): by_name[Path(f).name] for f in files}
    return [row for row in ledger if id(row) in picked]


def _reload(
    source: FilesSource, ctx: RunContext, chosen: list[dict[str, Any]], kept: list[Path]
) -> Counts:
    """Reload single files: each one's rows and rejects replaced in one commit."""
    from civiclake.steps import Counts

    counts = Counts()
    for done, (row, path) in enumerate(zip(chosen, kept, strict=True), start=1):
        archived = str(row["archived_path"])
        received = Received(
            Path(str(row["path"])),
            int(row["size_bytes"]),
            str(row["sha256"]),
            replaces=(archived,),
        )
        batch = f"reprocess:{row['sha256']}:{ctx.import_id}"
        loaded = load_file(source, ctx, received, path, archived, batch=batch)
        counts.rows_in += loaded.rows + loaded.rejected
        counts.rows_out += loaded.written
        counts.rows_rejected += loaded.rejected
        counts.bytes_written += loaded.bytes_written
        counts.notes.extend(loaded.notes)
        counts.notes.append(
            f"{Path(str(row['path'])).name}: reloaded ({loaded.rows} row(s), "
            f"{loaded.rejected} rejected), replacing its earlier rows"
        )
        ctx.progress(done, len(chosen))
    return counts


def _move_aside(uri: str, stamp: str) -> str | None:
    """Rename a local table folder to ``<uri>.damaged-<stamp>``; None when there is none."""
    path = Path(uri)
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    path.rename(target)
    return str(target)


def files_source_of(sources: Sequence[object], dataset: DatasetRef) -> FilesSource | None:
    from civiclake.ingest.files.source import FilesSource

    for source in sources:
        if isinstance(source, FilesSource) and source.dataset == dataset:
            return source
    return None


__all__ = ["files_source_of", "reprocess"]
