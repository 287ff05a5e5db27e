"""One landing batch of a planning table: parse, type, reject, hand to history.

Shared by a run, a backfill, the recovery of a batch a crashed run recorded
but may not have applied, and a replay for ``civiclake history rebuild`` — so
the same landing files always give the same rows:

1. read the pages (all strings, with ``_source_file``/``_source_row``);
2. leave out records whose version column falls on the batch's business date
   or later (that day is not finished; the next run fetches them again);
3. type them against the history table's current schema, so types stay put
   (``types:`` in the config overrides);
4. rows that do not fit their type go to ``<dataset>__rejected`` (application
   id ``rejected:<batch hash>``), the rest to history (the batch's id): a
   re-run of the same batch writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from civiclake import lineage
from civiclake.ingest.planning.config import COMMON_TYPES
from civiclake.steps import Counts

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.ingest.planning.config import PlanningTable
    from civiclake.ingest.planning.source import PlanningApiSource
    from civiclake.ingest.records import TypedRecords
    from civiclake.ingest.rest.landing import Batch
    from civiclake.steps import RunContext
    from civiclake.storage import DatasetRef


@dataclass
class Applied(Counts):
    """What applying one batch did: the step's counts, and what the summary notes."""

    unfinished: int = 0
    """Records of the business date or later, left for the next run."""
    already_applied: bool = False
    added: list[str] = field(default_factory=list)
    widened: list[str] = field(default_factory=list)

    def merge(self, other: Applied) -> Applied:
        """Two batches' counts together (a pull applied in several batches)."""
        merged = Applied(
            unfinished=self.unfinished + other.unfinished,
            already_applied=self.already_applied and other.already_applied,
            added=[*self.added, *other.added],
            widened=[*self.widened, *other.widened],
        )
        merged.add(self)
        merged.add(other)
        return merged


@dataclass(frozen=True)
class TableLoader:
    """Loads batches of one resource into its refined history table."""

    source: PlanningApiSource
    resource: str
    settings: PlanningTable

    @property
    def ref(self) -> DatasetRef:
        return self.source.dataset(self.resource)

    def records(self, batch: Batch) -> tuple[pa.Table, int, int]:
        """The batch's records (strings) without the unfinished day; with the counts
        read and left out."""
        import pyarrow.compute as pc

        from civiclake.ingest.records import read_json_pages

        paths = [self.source.batches(self.resource).path_of(f) for f in batch.files]
        records = read_json_pages(
            paths,
            drop=self.settings.drop,
            nested=self.settings.nested,
            connections=self.source.project.connections,
        )
        records = _relative_source_files(records, self.source.project.layout.root)
        read = records.num_rows
        version = self.settings.version
        if version in records.column_names and read:
            day = pc.utf8_slice_codeunits(records.column(version).cast("string"), 0, 10)
            finished = pc.fill_null(pc.less(day, batch.today), True)
            records = records.filter(finished)
        return records, read, read - records.num_rows

    def typed(self, records: pa.Table, existing: pa.Schema | None) -> TypedRecords:
        from civiclake.ingest.records import type_records

        return type_records(
            records,
            existing=existing,
            overrides={**COMMON_TYPES, **self.settings.types},
            context=f"{self.ref.qualified} (from {self.source.name}, {self.source.config_file})",
            connections=self.source.project.connections,
        )

    def existing_schema(self) -> pa.Schema | None:
        """The data columns of the history table as stored (None before its first batch)."""
        import pyarrow as pa

        from civiclake.snapshots import open_history
        from civiclake.snapshots.sql import VALID_FROM

        project = self.source.project
        table = open_history(project.tables, project.layout.table_uri(self.ref))
        if table is None:
            return None
        return pa.schema(
            [f for f in table.schema if not f.name.startswith("_") and f.name != VALID_FROM]
        )

    def apply(self, ctx: RunContext, batch: Batch) -> Applied:
        """Load one recorded batch into history (a no-op for a batch already applied)."""
        from civiclake.snapshots import apply_increment

        records, read, unfinished = self.records(batch)
        existing = self.existing_schema()
        typed = self.typed(records, existing)
        applied = Applied(rows_in=read, unfinished=unfinished)
        if existing is not None:  # on a first batch every column is new
            applied.added = [f"{column} {kind}" for column, kind in typed.added]
        applied.widened = [f"{column} {old}→{new}" for column, old, new in typed.widened]
        if typed.rejected.num_rows:
            applied.rows_rejected += typed.rejected.num_rows
            applied.bytes_written += self._reject(ctx, batch, typed.rejected)
        result = apply_increment(
            self.source.project.catalog,
            self.ref,
            typed.table,
            self.source.history_spec(self.resource),
            app_id=batch.app_id,
            import_id=ctx.import_id,
            producer=self.source.name,
            description=self.source.description(self.resource),
            owner=self.source.config.owner,
            pii=self.source.config.pii,
        )
        applied.versions = result.versions
        applied.duplicates = result.duplicates
        applied.rows_rejected += result.rejected
        applied.bytes_written += result.bytes_written
        applied.already_applied = result.already_applied
        applied.notes.extend(result.notes)
        return applied

    def _reject(self, ctx: RunContext, batch: Batch, rejected: pa.Table) -> int:
        project = self.source.project
        ref = self.ref.sibling(f"{self.ref.name}__rejected")
        app_id = "rejected:" + batch.app_id.rsplit(":", 1)[-1]
        constants = {
            name: value
            for name, value in (
                (lineage.IMPORT_ID, ctx.import_id),
                (lineage.IMPORTED_AT, datetime.now(UTC)),
            )
            if name not in rejected.column_names
        }
        result = project.catalog.write_once(
            ref,
            rejected,
            app_id=app_id,
            producer=self.source.name,
            description=f"Records of {self.ref.qualified} that could not be loaded, and why",
            owner=self.source.config.owner,
            constants=constants,
        )
        return 0 if result is None else result.bytes_written

    def replay(self, batches: list[Batch]) -> Iterator[tuple[str, pa.Table]]:
        """Each batch typed again, in order; types follow the table as it stands, and
        columns a batch adds or widens carry on to the next ones."""
        existing = self.existing_schema()
        for batch in batches:
            records, _, _ = self.records(batch)
            typed = self.typed(records, existing)
            existing = _evolve(existing, typed.table.schema)
            yield batch.app_id, typed.table


def _relative_source_files(records: pa.Table, root: str) -> pa.Table:
    """``_source_file`` relative to the storage root, as every civiclake row carries it."""
    import re

    import pyarrow.compute as pc

    if lineage.SOURCE_FILE not in records.column_names:
        return records
    i = records.column_names.index(lineage.SOURCE_FILE)
    pattern = "^" + re.escape(root.rstrip("/") + "/")
    relative = pc.replace_substring_regex(records.column(i), pattern, "")
    return records.set_column(i, lineage.SOURCE_FILE, relative)


def _evolve(existing: pa.Schema | None, seen: pa.Schema) -> pa.Schema:
    """``existing`` with the columns ``seen`` added and its types where they differ (widened)."""
    import pyarrow as pa

    if existing is None:
        return pa.schema([f for f in seen if not f.name.startswith("_")])
    fields = {f.name: f for f in existing}
    for f in seen:
        if not f.name.startswith("_"):
            fields[f.name] = f
    return pa.schema(list(fields.values()))


__all__ = ["Applied", "TableLoader"]
