"""What both event-stream sources do with a batch of message values.

* decode them (:mod:`.decode`) into the flat typed rows of
  ``<dept>_refined.<dataset>`` — one row per message, with where it came from
  (``_topic``/``_partition``/``_offset`` or ``_source_file``/``_source_row``);
* the values that do not decode, with that lineage and the reason, become rows
  of ``<dept>_raw.<dataset>__rejected``: a poison message never blocks its
  partition;
* the decoded rows feed each ``current`` table (:mod:`.current`).

How rows are committed exactly once differs: the ``kafka`` source commits
partition offsets with them (:mod:`.offsets`), the ``events`` source the
landing file's hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from civiclake.steps import Counts
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.ingest.base import Source
    from civiclake.ingest.streams.config import StreamSettings
    from civiclake.ingest.streams.decode import Decoder

REJECT_REASON = "_reject_reason"


class EventSink:
    """Decoding and current-state writing for one stream source."""

    def __init__(self, source: Source[Any], settings: StreamSettings, decoder: Decoder) -> None:
        self.source = source
        self.settings = settings
        self.decoder = decoder
        name = settings.dataset or source.source_name
        self.raw = DatasetRef(source.department, "raw", name)
        self.rejected = self.raw.sibling(f"{name}__rejected")
        self.decoded = DatasetRef(source.department, "refined", name)
        self.current = {
            table: DatasetRef(source.department, "refined", table) for table in settings.current
        }

    @property
    def outputs(self) -> list[DatasetRef]:
        children = [
            ref.sibling(child)
            for table, ref in self.current.items()
            for child in self.settings.current[table].children
        ]
        return [self.raw, self.decoded, *self.current.values(), *children]

    def decode(self, values: pa.Array, lineage: pa.Table) -> tuple[pa.Table, pa.Table]:
        """(decoded rows with their lineage, rejected messages with value and reason)."""
        import pyarrow as pa

        decoded = self.decoder.decode(values)
        good = decoded.table
        every = len(decoded.rows) == len(values) and not decoded.rejected  # rows in order
        for name in lineage.column_names:
            column = lineage.column(name)
            good = good.append_column(name, column if every else column.take(decoded.rows))
        if decoded.schema_ids is not None:
            good = good.append_column("_schema_id", decoded.schema_ids)
        positions = pa.array([i for i, _ in decoded.rejected], pa.int64())
        bad = lineage.take(positions)
        bad = bad.append_column("value", values.take(positions))
        bad = bad.append_column(
            REJECT_REASON, pa.array([reason for _, reason in decoded.rejected], pa.string())
        )
        return good, bad

    def apply_current(self, decoded: pa.Table, app_id: str, import_id: str) -> Counts:
        """Feed decoded rows to every current table (idempotent per ``app_id``)."""
        from civiclake.ingest.streams import current

        outcome = Counts()
        if not decoded.num_rows:
            return outcome
        config = self.source.config
        for name, table in self.settings.current.items():
            applied = current.apply(
                self.source.project,
                self.current[name],
                decoded,
                table,
                app_id=f"{app_id}:{name}",
                import_id=import_id,
                producer=self.source.name,
                owner=getattr(config, "owner", ""),
                pii=tuple(getattr(config, "pii", ())),
            )
            outcome.add(applied)
        return outcome

    def register(self, *refs: DatasetRef) -> None:
        """Refresh the catalog entries of plain tables this sink wrote."""
        project = self.source.project
        descriptions = {
            self.raw: "Messages as received, with topic, partition, offset, timestamp and key",
            self.decoded: "One row per event: envelope and payload decoded, flattened and typed",
            self.rejected: "Messages that could not be decoded, with where they came from and why",
        }
        for ref in refs:
            if project.tables.exists(project.layout.table_uri(ref)):
                project.catalog.register(
                    ref,
                    producer=self.source.name,
                    description=descriptions.get(ref, ""),
                    owner=getattr(self.source.config, "owner", ""),
                    # the decoded events carry the source's personal fields by the same names
                    pii=getattr(self.source.config, "pii", ()) if ref == self.decoded else (),
                )


__all__ = ["REJECT_REASON", "EventSink"]
