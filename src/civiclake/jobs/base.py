"""What SQL and Python jobs share: being a :class:`~civiclake.runner.context.Node`.

A job reads datasets and writes exactly one, always in its own department
(the folder it lives in). Subclasses only say how to compute the result as an
Arrow stream; stamping lineage and writing it the declared way
(:mod:`civiclake.jobs.materialize`) is the same for every job, so a SQL job
and a Python job with the same options store their results identically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from civiclake.jobs.options import JobOptions
    from civiclake.project import Project
    from civiclake.runner.context import NodeKind, RunContext, StepResult
    from civiclake.storage import DatasetRef


class Job(ABC):
    """One job file: ``jobs/<department>/<name>.sql`` or ``.py``."""

    kind: ClassVar[NodeKind] = "job"
    language: ClassVar[str]

    def __init__(
        self,
        project: Project,
        department: str,
        path: Path,
        options: JobOptions,
        inputs: list[DatasetRef],
        output: DatasetRef,
    ) -> None:
        self.project = project
        self._department = department
        self.path = path
        self.options = options
        self._inputs = list(dict.fromkeys(inputs))  # in the order given, once each
        self.output = output

    # -- Node protocol ----------------------------------------------------------
    @property
    def name(self) -> str:
        """``<department>/<file stem>``: what ``civiclake run`` selects."""
        return f"{self._department}/{self.path.stem}"

    @property
    def department(self) -> str:
        return self._department

    @property
    def inputs(self) -> list[DatasetRef]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[DatasetRef]:
        return [self.output]

    @property
    def materialize(self) -> str:
        """``table``, ``append`` or ``incremental`` (recorded with the job's definition)."""
        return self.options.materialize

    @property
    def location(self) -> str:
        """The file relative to the project (``jobs/housing/x.sql``), for messages."""
        try:
            return self.path.relative_to(self.project.dir).as_posix()
        except ValueError:
            return str(self.path)

    def run(self, ctx: RunContext) -> StepResult:
        """Compute the result and write it; a retry of the same step never writes twice."""
        from civiclake.jobs import materialize
        from civiclake.runner.context import StepResult

        if materialize.already_written(ctx, self):
            return StepResult(notes=["inputs unchanged since the last append; nothing appended"])
        ctx.session.register(self.inputs)
        data = materialize.stamp_lineage(self.compute(ctx), ctx.import_id, where=self.location)
        result = materialize.write(ctx, self, data)
        result.rows_in = materialize.count_rows(ctx.project, self.inputs)
        return result

    @abstractmethod
    def compute(self, ctx: RunContext) -> pa.RecordBatchReader:
        """The job's result as an Arrow stream (inputs are registered in ``ctx.session``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} → {self.output.qualified}>"
