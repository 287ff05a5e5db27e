"""What every step of a run is, receives and returns: the contract between stages and the runner.

A *step* is one unit the runner schedules: a source loading its input, a job
computing a dataset, publishing to the warehouse, or a one-off action such as
a backfill. Stages (``ingest``, ``jobs``, ``publish``) provide steps; the
runner orders them by what they read and write and calls :meth:`Step.run`.

This module sits below every stage and imports none of them, so a new stage
(a Spark job kind, a scheduler's trigger) plugs in by providing objects of
this shape — never by the runner learning its type::

    class Step(Protocol):
        definition: StepDefinition     # name, kind, department, reads, writes, capabilities
        def run(self, ctx: RunContext) -> Counts

What a step can do beyond ``run`` is *declared* in
:class:`SourceCapabilities`, and offered through the small protocols below
(:class:`Backfillable`, :class:`Replayable`, :class:`Reconcilable`); callers
check the declaration, not ``hasattr``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from civiclake.registry import Registry

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.engines.base import Session
    from civiclake.project import Project
    from civiclake.snapshots import HistorySpec
    from civiclake.storage import DatasetRef

StepKind = Literal["source", "job", "publish", "action"]
"""``source`` loads from outside, ``job`` computes a dataset, ``publish`` copies to the
warehouse, ``action`` is a one-off (a backfill, a history rebuild)."""


@dataclass(frozen=True)
class SourceCapabilities:
    """What a source offers beyond a plain ``run`` (all off unless declared)."""

    backfill: bool = False
    """Re-pull a date range (:class:`Backfillable`)."""
    replay: bool = False
    """Rebuild a table's history from what it recorded (:class:`Replayable`)."""
    reconcile: bool = False
    """Compare the lake with the source and repair drift (:class:`Reconcilable`)."""
    stream: bool = False
    """Run continuously until stopped (:class:`Streamable`, ``civiclake stream``)."""


NO_CAPABILITIES = SourceCapabilities()


@dataclass(frozen=True)
class StepDefinition:
    """A step as declared: what the catalog records and the runner plans with."""

    name: str
    """``<department>/<name>``, unique in the project; what ``civiclake run`` selects."""
    kind: StepKind
    department: str
    reads: tuple[DatasetRef, ...] = ()
    writes: tuple[DatasetRef, ...] = ()
    type: str = ""
    """A source's connector (``files``, ``database``…) or a job's language (``sql``, ``python``)."""
    path: str = ""
    """The file that declares it, relative to the project when inside it."""
    description: str = ""
    materialize: str = ""
    """For jobs: ``table``, ``append`` or ``incremental``."""
    schedule: str = ""
    """A cron expression or interval from the step's file, empty when it runs with every run."""
    capabilities: SourceCapabilities = NO_CAPABILITIES
    freshness: str = ""
    """How old the newest write of each dataset in ``writes`` may be (``26h``), empty for none."""


@dataclass
class Counts:
    """What a step reports when it finishes (one type for every stage)."""

    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    bytes_written: int = 0
    versions: int = 0
    """New versions added to history tables (keyed sources)."""
    duplicates: int = 0
    """Re-delivered versions recognised and left out."""
    notes: list[str] = field(default_factory=list)
    """Short human notes for the summary (e.g. "2 files already loaded, skipped")."""

    def add(self, other: Counts) -> Counts:
        """Add ``other``'s counts and notes to these (batches of one step); returns self."""
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.rows_rejected += other.rows_rejected
        self.bytes_written += other.bytes_written
        self.versions += other.versions
        self.duplicates += other.duplicates
        self.notes.extend(other.notes)
        return self


StepStatus = Literal["success", "failed", "blocked"]


@dataclass
class StepOutcome:
    """How one step of a run ended."""

    name: str
    kind: str
    status: StepStatus
    """``success``, ``failed`` or ``blocked`` (an upstream step failed)."""
    result: Counts = field(default_factory=Counts)
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0


ProgressCallback = Callable[[int, int | None], None]
"""``progress(done, total)``: units are the step's own (files, rows); total may be unknown."""


@dataclass
class RunContext:
    """Handed to :meth:`Step.run`: the project, an engine session, ids and a logger."""

    project: Project
    run_id: int
    import_id: str
    """Unique per step per run; stamped on every row written as ``_import_id``."""
    log: logging.Logger
    today: date = field(default_factory=date.today)
    """The run's business date: a daily source pulls every complete day before it."""
    progress: ProgressCallback = lambda done, total: None
    _session: Session | None = None

    @property
    def session(self) -> Session:
        """An engine session for this step (created on first use, closed by the runner)."""
        if self._session is None:
            self._session = self.project.engine().session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class Step(Protocol):
    """One step of a run: a declared definition and a way to run it."""

    @property
    def definition(self) -> StepDefinition: ...

    def run(self, ctx: RunContext) -> Counts:
        """Do the step's work; safe to re-run after a crash at any point."""


# -- what some sources offer (declared in SourceCapabilities) -----------------------------
@runtime_checkable
class Backfillable(Protocol):
    def backfill(self, ctx: RunContext, table: str, start: date, end: date) -> Counts: ...


@runtime_checkable
class Replayable(Protocol):
    """A source whose tables' history can be rebuilt from what it recorded in landing."""

    def replay_tables(self) -> list[str]:
        """The tables that keep a replayable history."""

    def dataset(self, table: str) -> DatasetRef: ...

    def history_spec(self, table: str) -> HistorySpec: ...

    def replay(self, table: str) -> Iterator[tuple[str, pa.Table]]:
        """Every recorded batch of ``table`` as ``(import id, rows)``, oldest first."""


@runtime_checkable
class Streamable(Protocol):
    """A source that can run continuously: the streaming mode of a run."""

    @property
    def definition(self) -> StepDefinition: ...

    def stream(
        self,
        ctx: RunContext,
        stop: threading.Event,
        *,
        catch_up: bool,
        poll: float,
        on_batch: Callable[[Counts], None],
    ) -> Counts:
        """Read and commit batch after batch until ``stop`` is set (``catch_up``: until the
        stream is read to its end); ``on_batch`` hears each committed batch's counts. A
        batch in flight when ``stop`` is set is committed first."""
        ...


@runtime_checkable
class Reconcilable(Protocol):
    def reconcile(self, ctx: RunContext, tables: list[str] | None = None) -> Counts: ...


@dataclass
class Broken:
    """A step whose file could not be loaded (bad YAML, SQL that does not parse…).

    It stands in the plan under the file's name, so a run fails that step alone — recorded
    with the error — blocks only what reads its datasets, and runs everything else.
    """

    definition: StepDefinition
    error: Exception

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def path(self) -> Path:
        return Path(self.definition.path)

    def run(self, ctx: RunContext) -> Counts:
        raise self.error

    @classmethod
    def of_file(
        cls,
        project: Project,
        *,
        name: str,
        kind: StepKind,
        department: str,
        path: str,
        error: Exception,
        writes: Sequence[DatasetRef] = (),
    ) -> Broken:
        """``writes``: what the file would write, as far as it can be told (with the
        datasets the catalog says ``name`` produced before), so its readers are blocked."""
        from civiclake.storage import DatasetRef

        produced = [
            DatasetRef(row["department"], row["zone"], row["name"])
            for row in project.store.datasets()
            if row["producer"] == name and not row["name"].endswith(("__rejected", "__history"))
        ]
        outputs = tuple(dict.fromkeys([*writes, *produced]))
        definition = StepDefinition(
            name, kind, department, writes=outputs, path=path, description=f"broken: {error}"
        )
        return cls(definition, error)


@dataclass(frozen=True)
class StepProvider:
    """A stage's steps for a project: registered in the ``civiclake.steps`` entry points.

    ``provide(project, upstream)`` returns the stage's steps; ``upstream`` holds the steps
    of the providers named in ``after`` (publishing needs every step that writes a
    published zone).
    """

    name: str
    provide: Callable[[Project, Sequence[Step]], Sequence[Step]]
    after: tuple[str, ...] = ()


PROVIDERS: Registry[StepProvider] = Registry("civiclake.steps", "stage")
"""The stages that provide steps (entry points ``civiclake.steps``)."""


def providers() -> list[StepProvider]:
    """Every registered provider, each after the ones it names in ``after``."""
    import graphlib

    found = {p.name: p for p in PROVIDERS.load_all().values()}
    order = graphlib.TopologicalSorter(
        {name: [a for a in p.after if a in found] for name, p in found.items()}
    )
    return [found[name] for name in order.static_order()]


def discover(project: Project, stages: Sequence[str] | None = None) -> list[Step]:
    """The project's steps, stage by stage (only ``stages`` when given, e.g. ``["sources"]``).

    A provider sees the steps of the stages before it, so publishing can follow
    whatever writes a published zone. Here, below every stage, so that the runner and
    what sits below it (alerts' freshness targets) find steps the same way.
    """
    chosen = set(stages) if stages is not None else None
    steps: list[Step] = []
    for provider in providers():
        if chosen is not None and provider.name not in chosen:
            continue
        steps.extend(provider.provide(project, list(steps)))
    return steps


@dataclass
class Action:
    """A one-off step that calls ``action(ctx)`` (a backfill, a rebuild)."""

    name: str
    department: str
    action: Callable[[RunContext], Counts]
    writes: list[DatasetRef] = field(default_factory=list)
    reads: list[DatasetRef] = field(default_factory=list)

    @property
    def definition(self) -> StepDefinition:
        return StepDefinition(
            self.name, "action", self.department, tuple(self.reads), tuple(self.writes)
        )

    def run(self, ctx: RunContext) -> Counts:
        return self.action(ctx)


__all__ = [
    "NO_CAPABILITIES",
    "PROVIDERS",
    "Action",
    "Backfillable",
    "Counts",
    "ProgressCallback",
    "Reconcilable",
    "Replayable",
    "RunContext",
    "SourceCapabilities",
    "Step",
    "StepDefinition",
    "StepKind",
    "StepOutcome",
    "StepProvider",
    "StepStatus",
    "discover",
    "providers",
]
