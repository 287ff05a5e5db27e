"""The ``files`` source: dropped CSV, Excel and JSON files into one raw dataset.

One run, per matching file (oldest first):

1. skip it if empty or still being written (too recent, or changed while hashed);
2. hash it; a hash the ledger holds was loaded already (perhaps under another name);
3. keep it unmodified in the dated landing archive, and parse that copy;
4. append good rows to ``<dataset>`` and bad ones to ``<dataset>__rejected``,
   each write tagged with a Delta application id derived from the hash;
5. record it in the ledger, then remove the inbox original.

A crash between any two steps is safe: the hash finds the file again, and the
application id tells a committed write from one that never happened, so a
rerun completes the work without loading anything twice. One bad file does
not stop the others; the run fails at the end, naming every bad file.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.ingest import landing
from civiclake.ingest.base import Source
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.files.config import FilesSourceConfig
from civiclake.ingest.files.load import Loaded, load_file, sniff_ahead
from civiclake.naming import snake_case
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    from civiclake.steps import Counts, RunContext

_SHOWN_FAILURES = 10


@dataclass
class Tally:
    """What happened to the files of one run, for the step's notes."""

    counts: Counter[str]
    notes: list[str]


class FilesSource(Source[FilesSourceConfig]):
    """CSV, Excel (.xlsx) and JSON/NDJSON files matched by glob patterns in a folder."""

    type = "files"
    config_model = FilesSourceConfig

    @property
    def dataset(self) -> DatasetRef:
        return DatasetRef(
            self.department, "raw", self.config.dataset or snake_case(self.source_name)
        )

    @property
    def outputs(self) -> list[DatasetRef]:
        return [self.dataset]

    def folder(self) -> tuple[Path, bool]:
        """The folder to scan, and whether it is the landing inbox (files move out of it)."""
        if self.config.folder is not None:
            folder = Path(self.config.folder).expanduser()
            return (folder if folder.is_absolute() else self.project.dir / folder), False
        inbox = self.project.layout.landing_inbox(self.department, self.source_name)
        return Path(inbox), True

    def run(self, ctx: RunContext) -> Counts:
        from civiclake.steps import Counts

        layout = self.project.layout
        if not layout.is_local:
            raise IngestError(
                f"{self.name}: storage.root is {layout.root}; loading files into object-store "
                "landing comes in a later release. Use a local storage.root (or a mounted "
                "folder) for files sources for now"
            )
        folder, from_inbox = self.folder()
        if not from_inbox:  # the landing inbox may not exist yet: no file was dropped
            landing.require_folder(folder, self.config_file)
        found = landing.scan(folder, self.config.globs)
        result = Counts()
        tally = Tally(Counter(), result.notes)
        if from_inbox:  # a watched folder may hold anything; the inbox holds what was sent
            for note in landing.unmatched_notes(
                folder, self.config.globs, self.config.patterns, self.config_file
            ):
                ctx.log.warning("%s", note)
                tally.notes.append(note)
        failures: list[str] = []
        ctx.log.info(
            "%s: %d file(s) in %s match %s", self.name, len(found), folder, self.config.patterns
        )
        inbox = self.inbox(
            ctx,
            self.dataset.qualified,
            from_inbox=from_inbox,
            min_age_seconds=self.config.min_file_age_seconds,
            same_name_only=self.config.full_export,
        )
        found = inbox.revisit() + found
        for done, candidate in enumerate(found, start=1):
            try:
                self._one(ctx, candidate, inbox, result, tally)
            except IngestError as exc:  # one bad file must not stop the good ones
                text = str(exc)
                name = candidate.path.name
                failures.append(text if text.startswith(name) else f"{name}: {text}")
                ctx.log.error("%s", failures[-1])
            ctx.progress(done, len(found))
        _summarise(tally)
        if failures:
            listed = "\n  - ".join(failures[:_SHOWN_FAILURES])
            more = len(failures) - _SHOWN_FAILURES
            raise IngestError(
                f"{self.name}: {len(failures)} of {len(found)} file(s) could not be loaded "
                f"(the other files were loaded):\n  - {listed}"
                + (f"\n  … and {more} more (see the run log)" if more > 0 else "")
            )
        return result

    def _one(
        self,
        ctx: RunContext,
        candidate: landing.Candidate,
        inbox: landing.Inbox,
        result: Counts,
        tally: Tally,
    ) -> None:
        name = candidate.path.name
        sniffing: list[Future[Any] | None] = []

        def load(received: landing.Received, kept: Path, source_file: str) -> Loaded:
            sniffed = _result(sniffing[0] if sniffing else None)
            return load_file(self, ctx, received, kept, source_file, sniffed=sniffed)

        taken = inbox.take(
            candidate,
            load,
            lambda loaded: (loaded.rows, loaded.rejected),
            import_id=ctx.import_id,
            # the CSV dialect is sniffed in a thread while the file is hashed
            before_hash=lambda found: sniffing.append(sniff_ahead(self, found.path)),
        )
        if isinstance(taken, landing.Skipped):
            if candidate.continues is not None:
                return  # a kept copy looked at again, not a file sent: nothing to say
            if taken.reason == "empty":
                ctx.log.warning("%s: empty file, will be loaded when it has content", name)
                tally.notes.append(f"{name}: empty file, will be loaded when it has content")
            elif taken.reason == "still being written":
                ctx.log.info("%s: still being written, skipped this run", name)
                tally.counts["still being written, will be loaded next run"] += 1
            else:
                if Path(taken.known_as).name != name:
                    tally.notes.append(
                        f"{name}: same content as {Path(taken.known_as).name}, skipped"
                    )
                tally.counts["already loaded, skipped"] += 1
            return
        loaded = taken.value
        if (note := taken.note(name)) is not None:
            tally.notes.append(note)
        result.rows_in += loaded.rows + loaded.rejected
        result.rows_out += loaded.written
        result.rows_rejected += loaded.rejected
        result.bytes_written += loaded.bytes_written
        tally.counts["loaded"] += 1
        tally.notes.extend(loaded.notes)
        ctx.log.info("%s: %d row(s) loaded, %d rejected", name, loaded.rows, loaded.rejected)


def _result(sniffing: Future[Any] | None) -> Any:
    """The sniffed dialect; a file that could not be sniffed is sniffed again by the load,
    which raises the same error where the file's errors are handled."""
    if sniffing is None:
        return None
    try:
        return sniffing.result()
    except IngestError:
        return None


def _summarise(tally: Tally) -> None:
    for what, n in sorted(tally.counts.items()):
        tally.notes.append(f"{n} file{'s' if n != 1 else ''} {what}")


__all__ = ["FilesSource"]
