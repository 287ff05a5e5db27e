"""The ``events`` source: one batch per event file, each loaded exactly once.

For each complete file in the folder, oldest first:

1. hash it while unchanged (a file still being written waits for the next run);
2. a file whose content was loaded before — a re-upload, under any name — is
   recognised by its hash in the ``loaded_files`` ledger and skipped;
3. keep it unmodified in ``landing/<dept>/<source>/<date>/`` (the raw copy:
   nothing is lost before it is parsed);
4. decode it — NDJSON (one event a line), JSON (an event or an array of
   events), or an Avro object container file — into
   ``<dept>_refined.<dataset>`` with ``_source_file``/``_source_row``; lines
   that do not decode (and files that are not Avro at all) go to
   ``<dept>_raw.<dataset>__rejected`` with the reason;
5. apply the rows to the current tables; every write carries the application
   id ``file:<sha256>``, so a crash anywhere is repaired by the next run with
   nothing written twice;
6. record it in the ledger and remove it from the inbox.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake import lineage
from civiclake.ingest.base import Source
from civiclake.ingest.events.config import EventsSourceConfig
from civiclake.ingest.exceptions import IngestError
from civiclake.steps import SourceCapabilities

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.ingest import landing
    from civiclake.ingest.streams.decode import Decoder
    from civiclake.ingest.streams.sink import EventSink
    from civiclake.steps import Counts, RunContext
    from civiclake.storage import DatasetRef


class EventsSource(Source[EventsSourceConfig]):
    """Event files in a landing folder: decoded events and current-state tables."""

    type = "events"
    config_model = EventsSourceConfig
    capabilities = SourceCapabilities(stream=True)

    @property
    def outputs(self) -> list[DatasetRef]:
        return [r for r in self.sink().outputs if r.zone != "raw"]

    def sink(self) -> EventSink:
        from civiclake.ingest.streams.sink import EventSink

        return EventSink(self, self.config, self.decoder())

    def decoder(self) -> Decoder:
        from civiclake.ingest.streams.decode import Decoder
        from civiclake.ingest.streams.schema_registry import RegistryClient

        cfg = self.config
        value_schema = None
        if cfg.value_schema:
            path = self.project.dir / cfg.value_schema
            try:
                value_schema = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise IngestError(
                    f"{self.config_file}, key `value_schema`: cannot read the Avro schema "
                    f"{path}: {exc}"
                ) from None
        elif cfg.schema_registry and cfg.subject:
            value_schema = RegistryClient(cfg.schema_registry).latest_json(cfg.subject)
        kwargs: dict[str, Any] = {}
        if cfg.timestamps is not None:
            kwargs["timestamps"] = set(cfg.timestamps).__contains__
        return Decoder(cfg.format, value_schema=value_schema, **kwargs)

    def folder(self) -> tuple[Path, bool]:
        """The folder to read, and whether it is the landing inbox (files move out of it)."""
        if self.config.folder is not None:
            folder = Path(self.config.folder).expanduser()
            return (folder if folder.is_absolute() else self.project.dir / folder), False
        return Path(self.project.layout.landing_inbox(self.department, self.source_name)), True

    def stream(
        self,
        ctx: RunContext,
        stop: threading.Event,
        *,
        catch_up: bool,
        poll: float,
        on_batch: Callable[[Counts], None],
    ) -> Counts:
        """Check the folder every ``poll`` seconds until ``stop`` (``catch_up``: once)."""
        from civiclake.steps import Counts

        total = Counts()
        while not stop.is_set():
            done = self.run(ctx)
            if done.rows_in:
                total.add(replace(done, notes=[]))  # a poll's notes describe that poll only
                on_batch(done)
            if catch_up:
                break
            stop.wait(poll)
        return total

    def run(self, ctx: RunContext) -> Counts:
        from civiclake.ingest import landing
        from civiclake.steps import Counts

        if not self.project.layout.is_local:
            raise IngestError(
                f"{self.name}: event files in object-store landing come in a later release; "
                "use a local storage.root for now"
            )
        folder, from_inbox = self.folder()
        if not from_inbox:  # the landing inbox may not exist yet: no file was dropped
            landing.require_folder(folder, self.config_file)
        found = landing.scan(folder, self.config.patterns)
        unmatched = (
            landing.unmatched_notes(
                folder, self.config.patterns, self.config.patterns, self.config_file
            )
            if from_inbox
            else []
        )
        for note in unmatched:
            ctx.log.warning("%s", note)
        sink = self.sink()
        total = Counts()
        skipped = loaded = 0
        inbox = self.inbox(
            ctx,
            sink.decoded.qualified,
            from_inbox=from_inbox,
            min_age_seconds=self.config.min_file_age_seconds,
        )
        found = inbox.revisit() + found
        for done, candidate in enumerate(found, start=1):
            outcome = self._one(ctx, sink, candidate, inbox)
            if outcome is None:
                skipped += candidate.continues is None  # a kept copy looked at again: silent
            else:
                loaded += 1
                total.add(outcome)
            ctx.progress(done, len(found))
        sink.register(sink.decoded, sink.rejected)
        result = Counts(
            rows_in=total.rows_in,
            rows_out=total.rows_out,
            rows_rejected=total.rows_rejected,
            bytes_written=total.bytes_written,
            versions=total.versions,
            duplicates=total.duplicates,
            notes=[
                f"{loaded} file(s), {total.rows_in} event(s), {total.rows_out} "
                f"decoded, {total.versions} new version(s) in current tables",
                *(n for n in total.notes if "could not be decoded" not in n),
                *unmatched,
            ],
        )
        if total.rows_rejected:
            result.notes.append(
                f"{total.rows_rejected} event(s) could not be decoded: "
                f"see {sink.rejected.qualified}"
            )
        if skipped:
            result.notes.append(
                f"{skipped} file(s) skipped: already loaded, or still being written"
            )
        return result

    def _one(
        self, ctx: RunContext, sink: EventSink, candidate: landing.Candidate, inbox: landing.Inbox
    ) -> Counts | None:
        from civiclake.ingest import landing

        taken = inbox.take(
            candidate,
            lambda received, kept, source_file: self._load(
                ctx, sink, kept, source_file, received.sha256, received.replaces
            ),
            lambda outcome: (outcome.rows_out, outcome.rows_rejected),
            import_id=ctx.import_id,
        )
        if isinstance(taken, landing.Skipped):
            return None
        outcome = taken.value
        name = candidate.path.name
        if (note := taken.note(name, "events")) is not None:
            outcome.notes.append(note)
        ctx.log.info(
            "%s: %d event(s), %d rejected",
            candidate.path.name,
            outcome.rows_out,
            outcome.rows_rejected,
        )
        return outcome

    def _load(
        self,
        ctx: RunContext,
        sink: EventSink,
        path: Path,
        source_file: str,
        sha256: str,
        replaces: tuple[str, ...] = (),
    ) -> Counts:
        """Decode one kept file; ``replaces``: the ``_source_file`` values whose rows this
        file's replace (a partial load of it). The current tables need nothing replaced:
        the partial load's events come again and are recognised there as re-deliveries."""
        import pyarrow as pa

        from civiclake.ingest import landing
        from civiclake.ingest.streams.sink import REJECT_REASON
        from civiclake.steps import Counts

        outcome = Counts()
        data = path.read_bytes()
        if path.suffix.lower() == ".avro":
            try:
                good = sink.decoder.container(data)
            except ValueError as exc:  # the whole file is not Avro: one rejected row
                good = None
                bad = pa.table(
                    {
                        lineage.SOURCE_FILE: [source_file],
                        lineage.SOURCE_ROW: pa.array([0], pa.int64()),
                        "value": pa.array([data], pa.binary()),
                        REJECT_REASON: [f"{path.name}: {exc}"],
                    }
                )
            else:
                good = _with_origin(good, source_file)
                bad = None
            outcome.rows_in = good.num_rows if good is not None else 1
        else:
            values = _json_values(data)
            origin = pa.table(
                {
                    lineage.SOURCE_FILE: pa.array([source_file] * len(values), pa.string()),
                    lineage.SOURCE_ROW: pa.array(range(1, len(values) + 1), pa.int64()),
                }
            )
            good, bad = sink.decode(pa.array(values, pa.binary()), origin)
            outcome.rows_in = len(values)
        constants = {lineage.IMPORT_ID: ctx.import_id, lineage.IMPORTED_AT: datetime.now(UTC)}
        where = landing.replaced_where(replaces)
        catalog = self.project.catalog
        if bad is not None and bad.num_rows:
            outcome.rows_rejected = bad.num_rows
            outcome.bytes_written += self._write(
                sink.rejected, bad, f"rejected:{sha256}", constants, where
            )
            outcome.notes.append(
                f"{bad.num_rows} event(s) could not be decoded: see {sink.rejected.qualified}"
            )
        elif where is not None:
            catalog.delete_once(sink.rejected, where, app_id=f"rejected:{sha256}")
        if good is not None and good.num_rows:
            outcome.rows_out = good.num_rows
            outcome.bytes_written += self._write(
                sink.decoded, good, f"file:{sha256}", constants, where
            )
            outcome.add(sink.apply_current(good, f"file:{sha256}", ctx.import_id))
        elif where is not None:
            catalog.delete_once(sink.decoded, where, app_id=f"file:{sha256}")
        return outcome

    def _write(
        self,
        ref: DatasetRef,
        rows: pa.Table,
        app_id: str,
        constants: dict[str, Any],
        where: str | None = None,
    ) -> int:
        # None: written by a run that stopped before recording the file. The sink refreshes
        # the catalog entries once the file is done.
        result = self.project.catalog.write_once(
            ref,
            rows,
            app_id=app_id,
            producer=self.name,
            constants=constants,
            register=False,
            mode="append" if where is None else "overwrite",
            where=where,
        )
        return 0 if result is None else result.bytes_written


def _json_values(data: bytes) -> list[bytes]:
    """The events of a JSON file: an array's items, one object, or NDJSON lines."""
    text = data.lstrip()
    if text.startswith(b"["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list):
            return [json.dumps(item).encode() for item in items]
    if text.startswith(b"{") and b"\n" in text.strip():
        try:
            one = json.loads(text)  # one pretty-printed event, not NDJSON
        except ValueError:
            one = None
        if isinstance(one, dict):
            return [json.dumps(one).encode()]
    lines = data.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip(b"\r") for line in lines]


def _with_origin(table: pa.Table, source_file: str) -> pa.Table:
    import pyarrow as pa

    n = table.num_rows
    table = table.append_column(lineage.SOURCE_FILE, pa.array([source_file] * n, pa.string()))
    return table.append_column(lineage.SOURCE_ROW, pa.array(range(1, n + 1), pa.int64()))


__all__ = ["EventsSource"]
