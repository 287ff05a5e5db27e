"""What every runnable node (source or job) receives and returns."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    from civiclake.engines.base import Session
    from civiclake.project import Project
    from civiclake.storage import DatasetRef

NodeKind = Literal["source", "job"]


@dataclass
class StepResult:
    """Counts a node reports when it finishes."""

    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    bytes_written: int = 0
    notes: list[str] = field(default_factory=list)
    """Short human notes for the summary (e.g. "2 files already loaded, skipped")."""


ProgressCallback = Callable[[int, int | None], None]
"""``progress(done, total)``: units are the node's own (files, rows); total may be unknown."""


@dataclass
class RunContext:
    """Handed to :meth:`Node.run`: the project, an engine session, ids and a logger."""

    project: Project
    run_id: int
    import_id: str
    """Unique per node per run; stamped on every row written as ``_import_id``."""
    log: logging.Logger
    today: date = field(default_factory=date.today)
    """The run's business date: a daily source pulls every complete day before it."""
    progress: ProgressCallback = lambda done, total: None
    _session: Session | None = None

    @property
    def session(self) -> Session:
        """An engine session for this node (created on first use, closed by the runner)."""
        if self._session is None:
            self._session = self.project.engine().session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class Node(Protocol):
    """A source or a job: one step of a run."""

    kind: ClassVar[NodeKind]

    @property
    def name(self) -> str:
        """``<department>/<name>``, unique in the project."""

    @property
    def department(self) -> str: ...

    @property
    def inputs(self) -> list[DatasetRef]:
        """Datasets read (empty for sources)."""

    @property
    def outputs(self) -> list[DatasetRef]:
        """Datasets written."""

    def run(self, ctx: RunContext) -> StepResult: ...
