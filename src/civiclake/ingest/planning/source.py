"""The ``planning_api`` source: a Tascomi-style planning system, pulled daily.

One run, per table (resource) in ``tables:``:

1. finish a batch a crashed run recorded but may not have applied;
2. plan the listings (:mod:`.cursor`): the full listing on a first run, then
   every day since the last one pulled (plus the overlap), plus the pages
   that failed before;
3. fetch them concurrently (:mod:`civiclake.ingest.rest`), keeping each page
   unmodified in ``landing/<dept>/<source>/<table>/<business date>/``
   as ``<day or full>-p0001.json``;
4. record the batch (its files in import order, the cursor that follows),
   then type it and append it to the table's history (:mod:`.load`);
5. save the cursor.

A crash anywhere is safe: pages are re-fetched (the cursor did not move) or
the recorded batch is applied by the next run, once (its application id is a
hash of its files). Pages that still fail after their retries are remembered;
the step then fails *after* applying everything else, naming the pages, and
the runner's retry (or the next run) fetches exactly those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.ingest.base import Source
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.planning.config import PlanningApiConfig, PlanningTable
from civiclake.ingest.planning.cursor import (
    DAY_PARAM,
    Cursor,
    FailedListing,
    Plan,
    failure,
    plan_backfill,
    plan_run,
    shifted_rest,
)
from civiclake.ingest.rest.exceptions import AuthenticationError, PagesFailedError
from civiclake.steps import SourceCapabilities
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.ingest.planning.load import Applied, TableLoader
    from civiclake.ingest.rest.client import Outcome, Page, PagedJsonClient, Query
    from civiclake.ingest.rest.landing import Batch, BatchLog, LandedFile
    from civiclake.snapshots import HistorySpec
    from civiclake.steps import Counts, RunContext


@dataclass
class Fetched:
    """What one pull got: its landing files in import order, and what failed."""

    files: list[LandedFile]
    failed: list[FailedListing]
    notes: list[str]


@dataclass
class Pulled:
    """One table's pull, for the step's counts and notes."""

    table: str
    applied: Applied | None = None
    failed: list[FailedListing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, applied: Applied) -> None:
        self.applied = applied if self.applied is None else self.applied.merge(applied)


class PlanningApiSource(Source[PlanningApiConfig]):
    """Every table of a planning system's REST API, kept as history in refined."""

    type = "planning_api"
    config_model = PlanningApiConfig
    capabilities = SourceCapabilities(backfill=True, replay=True)

    # -- what it writes -----------------------------------------------------------
    def dataset(self, table: str) -> DatasetRef:
        settings = self._settings(table)
        return DatasetRef(self.department, "refined", settings.dataset or table)

    @property
    def outputs(self) -> list[DatasetRef]:
        return [self.dataset(t) for t in self.config.tables]

    def history_spec(self, table: str) -> HistorySpec:
        from civiclake.snapshots import HistorySpec

        s = self._settings(table)
        return HistorySpec(key=tuple(s.key), version=s.version, deleted=s.deleted)

    def description(self, table: str) -> str:
        return self.config.description or f"`{table}` of the planning system ({self.name})"

    def batches(self, table: str) -> BatchLog:
        """The landing folder of ``table`` and its batch manifests."""
        from civiclake.ingest.rest.landing import BatchLog

        layout = self.project.layout
        if not layout.is_local:
            raise IngestError(
                f"{self.name}: storage.root is {layout.root}; keeping API pages in object-store "
                "landing comes in a later release. Use a local storage.root for now"
            )
        folder = Path(layout.landing_inbox(self.department, self.source_name)) / table
        return BatchLog(folder, layout.root)

    # -- the doors ----------------------------------------------------------------
    def run(self, ctx: RunContext) -> Counts:
        """Pull every table: new days, the overlap, and pages that failed before."""

        def plan(cursor: Cursor) -> Plan:
            return plan_run(
                cursor,
                ctx.today,
                lookback_days=self.config.lookback_days,
                overlap_days=self.config.overlap_days,
            )

        return self._pull_all(ctx, list(self.config.tables), plan)

    def backfill(self, ctx: RunContext, table: str, start: date, end: date) -> Counts:
        """Pull days ``start``…``end`` of ``table`` again and apply them.

        Records already held are recognised by history and not added twice; the
        daily cursor stays where it is (failed pages of those days are replaced
        by this pull's outcome).
        """
        self._settings(table)
        if end < start:
            raise IngestError(f"{self.name}: backfill of {table}: {end} is before {start}")
        return self._pull_all(ctx, [table], lambda c: plan_backfill(c, ctx.today, start, end))

    def replay_tables(self) -> list[str]:
        return list(self.config.tables)

    def replay(self, table: str) -> Iterator[tuple[str, pa.Table]]:
        """Every batch of ``table`` read again from landing in its original import order,
        as ``(application id, typed records)`` for ``civiclake history rebuild``."""
        from civiclake.ingest.planning.load import TableLoader

        loader = TableLoader(self, table, self._settings(table))
        return loader.replay(self.batches(table).batches())

    # -- one pull -----------------------------------------------------------------
    def _pull_all(
        self, ctx: RunContext, tables: list[str], plan: Callable[[Cursor], Plan]
    ) -> Counts:
        from civiclake.steps import Counts

        result = Counts()
        client = self._client()
        problems: list[str] = []
        failed: list[Pulled] = []
        for done, table in enumerate(tables, start=1):
            try:
                pulled = self._pull(ctx, client, table, plan)
            except AuthenticationError:
                raise  # the same keys serve every table
            except IngestError as exc:  # one table's problem must not stop the others
                problems.append(f"{table}: {exc}")
                ctx.log.error("%s: %s", table, exc)
                continue
            finally:
                ctx.progress(done, len(tables))
            _count(result, pulled)
            if pulled.failed:
                failed.append(pulled)
        for note in result.notes:
            ctx.log.info("%s", note)
        if problems or failed:
            raise self._failure(result, problems, failed)
        return result

    def _pull(
        self,
        ctx: RunContext,
        client: PagedJsonClient,
        table: str,
        plan_for: Callable[[Cursor], Plan],
    ) -> Pulled:
        from civiclake.ingest.planning.load import TableLoader

        store = self.project.store
        log = self.batches(table)
        loader = TableLoader(self, table, self._settings(table))
        cursor = self._recover(ctx, loader, log, Cursor.loads(store.get_cursor(self.name, table)))
        plan = plan_for(cursor)
        fetched = self._fetch(client, table, plan, log, ctx.today.isoformat())
        left = [f for f in cursor.failed if f not in plan.retry and not plan.covers(f)]
        after = Cursor(
            pulled_through=plan.pulled_through,
            failed=sorted([*left, *fetched.failed], key=_failure_order),
            last_batch=cursor.last_batch,
        )
        pulled = Pulled(table, failed=fetched.failed, notes=fetched.notes)
        batches = self._record(ctx, log, table, fetched.files, after)
        for batch in batches:
            pulled.add(loader.apply(ctx, batch))
            cursor = _after_batch(cursor, batch)
            store.set_cursor(self.name, table, cursor.dumps())
        if not batches:
            store.set_cursor(self.name, table, after.dumps())
        if after.complete_through is not None and after.failed:
            pulled.notes.append(f"{table}: complete through {after.complete_through}")
        return pulled

    def _fetch(
        self, client: PagedJsonClient, table: str, plan: Plan, log: BatchLog, today: str
    ) -> Fetched:
        """Fetch what ``plan`` asks, keeping every page in landing as it arrives."""
        from civiclake.ingest.rest.client import Query

        queries = [Query.of(table)] if plan.full else []
        queries += [Query.of(table, {DAY_PARAM: d.isoformat()}) for d in plan.days]
        retries = {f.query(table): f for f in plan.retry}
        landed: list[tuple[tuple[int, str, int], LandedFile]] = []
        outcomes = client.fetch([*queries, *retries], self._keeper(log, today, landed))
        # Pages of a day whose listing changed since they failed: fetch the rest of the day.
        rest = {}
        for query, previous in retries.items():
            pages = shifted_rest(previous, outcomes[query])
            if pages:
                rest[query] = Query.of(table, previous.params, pages)
        more = client.fetch(rest.values(), self._keeper(log, today, landed)) if rest else {}
        failed = [f for q in queries if (f := failure([outcomes[q]], today)) is not None] + [
            f
            for q, previous in retries.items()
            if (f := failure(_rounds(outcomes[q], rest.get(q), more), today, previous))
        ]
        return Fetched(
            files=[f for _, f in sorted(landed, key=lambda item: item[0])],
            failed=failed,
            notes=_describe(table, plan, outcomes, retries, more, self.config.lookback_days),
        )

    def _record(
        self, ctx: RunContext, log: BatchLog, table: str, files: list[LandedFile], after: Cursor
    ) -> list[Batch]:
        """Record the pull's batches (at most ``batch_pages`` files each, so a full load
        is applied in bounded memory) before applying any; the last carries the cursor."""
        from civiclake.ingest.rest.landing import batch_id

        size = self.config.batch_pages
        chunks = [files[i : i + size] for i in range(0, len(files), size)]
        today = ctx.today.isoformat()
        return [
            log.record(
                today,
                app_id=batch_id(f"planning:{table}", [f.sha256 for f in chunk]),
                import_id=ctx.import_id,
                today=today,
                files=chunk,
                state=after.to_json() if n == len(chunks) else None,
            )
            for n, chunk in enumerate(chunks, start=1)
        ]

    def _recover(
        self, ctx: RunContext, loader: TableLoader, log: BatchLog, cursor: Cursor
    ) -> Cursor:
        """Apply batches recorded after the cursor's last one (a run stopped mid-way)."""
        for batch in log.batches(after=cursor.last_batch):
            ctx.log.warning(
                "%s: batch %d (%d files) was recorded by an interrupted run; applying it",
                loader.resource,
                batch.seq,
                len(batch.files),
            )
            loader.apply(ctx, batch)
            cursor = _after_batch(cursor, batch)
            self.project.store.set_cursor(self.name, loader.resource, cursor.dumps())
        return cursor

    def _keeper(
        self,
        log: BatchLog,
        today: str,
        landed: list[tuple[tuple[int, str, int], LandedFile]],
    ) -> Callable[[Page], None]:
        """Keep each page as it arrives (202 pages carry no records and are not kept)."""
        from civiclake.ingest.rest.landing import keep_bytes

        def keep(page: Page) -> None:
            if page.empty:
                return
            day = dict(page.query.params).get(DAY_PARAM)
            name = f"{day or 'full'}-p{page.number:04d}.json"
            kept = keep_bytes(log.folder / today, name, page.body)
            params = dict(page.query.params)
            landed.append(
                (
                    (0 if day is None else 1, day or "", page.number),
                    log.landed(
                        kept, url=page.url, status=page.status, page=page.number, params=params
                    ),
                )
            )

        return keep

    def _client(self) -> PagedJsonClient:
        from civiclake.ingest.planning.auth import auth_headers
        from civiclake.ingest.rest.client import PagedJsonClient

        cfg = self.config
        public, private = cfg.public_key.reveal(), cfg.private_key.reveal()
        names = [*cfg.public_key.env_vars, *cfg.private_key.env_vars]
        where = ", ".join(names) if names else "written in the file; prefer ${VAR} references"
        return PagedJsonClient(
            cfg.url,
            headers=lambda: auth_headers(public, private),
            paging=cfg.paging,
            concurrency=cfg.concurrency,
            timeout_seconds=cfg.timeout_seconds,
            retry=cfg.retry_policy(),
            auth_hint=f"check the public/private keys in {self.config_file} ({where})",
            where=self.config_file,
        )

    def _settings(self, table: str) -> PlanningTable:
        try:
            return self.config.tables[table]
        except KeyError:
            from civiclake.config.suggest import did_you_mean

            raise IngestError(
                f"{self.name} has no table {table!r}{did_you_mean(table, list(self.config.tables))}"
                f"; its tables: {', '.join(self.config.tables)} (see {self.config_file})"
            ) from None

    def _failure(
        self, result: Counts, problems: list[str], failed: list[Pulled]
    ) -> IngestError | PagesFailedError:
        lines = list(problems)
        n = self.config.retries
        retries = f"{n} {'retry' if n == 1 else 'retries'}"
        for pulled in failed:
            listed = "; ".join(f.label for f in pulled.failed)
            lines.append(
                f"{pulled.table}: pages still failing after {retries}: "
                f"{listed}. Everything else was applied; these pages are remembered and the "
                f"next run of {self.name} fetches exactly them"
            )
        applied = f"; {result.rows_out} new versions applied" if result.rows_out else ""
        tables = len(problems) + len(failed)
        message = f"{tables} table(s) incomplete{applied}:\n  - " + "\n  - ".join(lines)
        return IngestError(message) if problems else PagesFailedError(message)


def _after_batch(cursor: Cursor, batch: Batch) -> Cursor:
    """The cursor once ``batch`` is applied (a batch without state leaves it as it was)."""
    state = Cursor.from_json(batch.state) if batch.state is not None else cursor
    return replace(state, last_batch=batch.seq)


def _rounds(first: Outcome, rest: Query | None, more: dict[Query, Outcome]) -> list[Outcome]:
    return [first] if rest is None else [first, more[rest]]


def _failure_order(f: FailedListing) -> tuple[str, list[int]]:
    return (f.params.get(DAY_PARAM, ""), f.pages or [])


def _count(result: Counts, pulled: Pulled) -> None:
    result.notes.extend(pulled.notes)
    applied = pulled.applied
    if applied is None:
        return
    table = pulled.table
    result.rows_in += applied.rows_in
    result.rows_out += applied.versions
    result.rows_rejected += applied.rows_rejected
    result.bytes_written += applied.bytes_written
    if applied.unfinished:
        result.notes.append(
            f"{table}: {applied.unfinished} record(s) updated on the run's day or later left "
            "for the next run (that day is not finished)"
        )
    if applied.duplicates:
        result.notes.append(f"{table}: {applied.duplicates} record(s) already held, skipped")
    if applied.rows_rejected:
        result.notes.append(
            f"{table}: {applied.rows_rejected} record(s) rejected, see its __rejected"
        )
    if applied.added:
        result.notes.append(f"{table}: new column(s) {', '.join(applied.added)}")
    if applied.widened:
        result.notes.append(f"{table}: widened column(s) {', '.join(applied.widened)}")
    result.notes.extend(f"{table}: {n}" for n in applied.notes)


def _describe(
    table: str,
    plan: Plan,
    outcomes: dict[Query, Outcome],
    retries: dict[Query, FailedListing],
    more: dict[Query, Outcome],
    lookback_days: int,
) -> list[str]:
    notes = []
    everything = [*outcomes.values(), *more.values()]
    records = sum(o.total or 0 for q, o in outcomes.items() if q.pages is None)
    fetched = sum(len(o.fetched) for o in everything)
    if plan.full:
        notes.append(f"{table}: full load, {fetched} page(s), {records} record(s) listed")
    elif plan.days:
        span = str(plan.days[0]) + (f"…{plan.days[-1]}" if len(plan.days) > 1 else "")
        notes.append(f"{table}: days {span} ({len(plan.days)}), {fetched} page(s)")
    if retries:
        again = sum(len(outcomes[q].fetched) for q in retries) + sum(
            len(o.fetched) for o in more.values()
        )
        notes.append(f"{table}: {again} page(s) that failed before fetched again")
    if plan.beyond_lookback:
        first, last = plan.beyond_lookback
        notes.append(
            f"{table}: days {first}…{last} were never pulled and are older than lookback_days "
            f"({lookback_days}); backfill them to fill the gap"
        )
    failed = [f for o in everything for f in o.failed]
    if failed:
        notes.append(f"{table}: {len(failed)} page(s) failed, remembered for the next run")
    return notes


__all__ = ["Fetched", "PlanningApiSource", "Pulled"]
