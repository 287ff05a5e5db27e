"""The ``database`` source: every listed table synced incrementally, reconciled on a schedule.

One run syncs each table (:mod:`.sync`), then reconciles the tables whose last
reconciliation is older than ``reconcile_every_minutes`` (:mod:`.reconcile`).
``civiclake reconcile <department>/<source>`` reconciles now.

A lost connection fails the step with a transient error naming the table; what was read
before it is either recorded and applied by the next run, or not recorded at all and read
again — never half-applied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from civiclake.ingest.base import Source
from civiclake.ingest.database.config import DatabaseConfig
from civiclake.steps import SourceCapabilities
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    from civiclake.ingest.database.connection import SourceDatabase
    from civiclake.ingest.database.reconcile import Report
    from civiclake.ingest.database.sync import Applied, TableSync
    from civiclake.steps import Counts, RunContext


class DatabaseSource(Source[DatabaseConfig]):
    """Tables of a SQL database, kept as history in raw."""

    type = "database"
    config_model = DatabaseConfig
    capabilities = SourceCapabilities(reconcile=True)

    def dataset(self, table: str) -> DatasetRef:
        return DatasetRef(self.department, "raw", self.config.tables[table].dataset or table)

    @property
    def outputs(self) -> list[DatasetRef]:
        return [self.dataset(t) for t in self.config.tables]

    def database(self) -> SourceDatabase:
        from civiclake.ingest.database.connection import SourceDatabase

        return SourceDatabase(self.config.url.reveal(), where=self.config_file)

    def syncs(self, db: SourceDatabase | None) -> dict[str, TableSync]:
        from civiclake.ingest.database.sync import TableSync

        db = db or self.database()
        return {
            name: TableSync(
                self.project,
                node=self.name,
                department=self.department,
                source_name=self.source_name,
                name=name,
                settings=settings,
                config=self.config,
                db=db,
            )
            for name, settings in self.config.tables.items()
        }

    def run(self, ctx: RunContext) -> Counts:
        from civiclake.ingest.database.reconcile import reconcile
        from civiclake.steps import Counts

        result = Counts()
        db = self.database()
        today = ctx.today.isoformat()
        try:
            syncs = self.syncs(db)
            for done, (name, sync) in enumerate(syncs.items()):
                for applied in sync.sync(today=today):
                    _count(result, name, applied)
                ctx.progress(done + 1, len(syncs))
            for name, sync in syncs.items():
                if self.config.tables[name].reconcile and self._reconcile_due(sync):
                    report = reconcile(sync, today=today)
                    _count_report(result, report)
        finally:
            db.close()
        return result

    def reconcile(self, ctx: RunContext, tables: list[str] | None = None) -> Counts:
        """Reconcile ``tables`` (all by default) now, whatever the schedule."""
        from civiclake.ingest.database.reconcile import reconcile
        from civiclake.steps import Counts

        result = Counts()
        db = self.database()
        try:
            syncs = self.syncs(db)
            for name in tables or list(syncs):
                _count_report(result, reconcile(syncs[name], today=ctx.today.isoformat()))
        finally:
            db.close()
        return result

    def _reconcile_due(self, sync: TableSync) -> bool:
        last = sync.state().reconciled_at
        if last is None or self.config.reconcile_every_minutes == 0:
            return True
        every = timedelta(minutes=self.config.reconcile_every_minutes)
        # a little early is fine: a 60-minute schedule run every 15 minutes must not slip
        return datetime.now(UTC) - datetime.fromisoformat(last) >= every - timedelta(minutes=1)


def _count(result: Counts, table: str, applied: Applied) -> None:
    result.rows_in += applied.rows_read
    result.rows_out += applied.versions
    result.bytes_written += applied.bytes_written
    parts = [f"{applied.rows_read} rows read ({applied.kind})"]
    if applied.versions:
        parts.append(f"{applied.versions - applied.deletes} changed")
    if applied.unchanged:
        parts.append(f"{applied.unchanged} unchanged re-reads dropped")
    if applied.deletes:
        parts.append(f"{applied.deletes} deleted")
    result.notes.append(f"{table}: " + ", ".join(parts))
    result.notes += [f"{table}: {note}" for note in applied.notes]


def _count_report(result: Counts, report: Report) -> None:
    result.notes.append(report.summary())
    if report.applied is not None:
        result.rows_in += report.applied.rows_read
        result.rows_out += report.applied.versions
        result.bytes_written += report.applied.bytes_written
