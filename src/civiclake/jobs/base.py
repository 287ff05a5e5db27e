"""What SQL and Python jobs share: being a :class:`~civiclake.steps.Step`.

A job reads datasets and writes exactly one, always in its own department
(the folder it lives in). Subclasses only say how to compute the result as an
Arrow stream and what each output column derives from; deciding the output's
PII from that (:mod:`civiclake.jobs.pii`), stamping lineage and writing it the
declared way (:mod:`civiclake.jobs.materialize`) is the same for every job, so
a SQL job and a Python job with the same options store their results identically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import pyarrow as pa

    from civiclake.jobs.options import JobOptions
    from civiclake.jobs.pii import Derivation, InputColumns, PiiDecision
    from civiclake.project import Project
    from civiclake.steps import Counts, RunContext, StepDefinition
    from civiclake.storage import DatasetRef


class Job(ABC):
    """One job file: ``jobs/<department>/<name>.sql`` or ``.py``."""

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

    # -- Step protocol ----------------------------------------------------------
    @property
    def definition(self) -> StepDefinition:
        from civiclake.steps import StepDefinition

        return StepDefinition(
            self.name,
            "job",
            self.department,
            reads=tuple(self.inputs),
            writes=(self.output,),
            type=self.language,
            path=self.location,
            description=self.options.description,
            materialize=self.materialize,
            freshness=self.options.freshness or "",
        )

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

    def run(self, ctx: RunContext) -> Counts:
        """Compute the result and write it; a retry of the same step never writes twice."""
        from civiclake.jobs import materialize
        from civiclake.steps import Counts

        if materialize.already_written(ctx, self):
            # the run that appended may have stopped between its commit and its catalog
            # entry: record them now from the table, so a crash leaves no dataset unlisted
            columns = ctx.project.tables.describe(ctx.project.catalog.uri(self.output)).schema
            decision = self.decide_pii(ctx.project, columns.names)
            materialize.register(ctx, self, pii=decision.columns)
            self._record_lineage(ctx, decision)
            return Counts(notes=["inputs unchanged since the last append; nothing appended"])
        ctx.session.register(self.inputs)
        reader = self.compute(ctx)
        # decided before a row is written: a bad clearance must not publish anything
        decision = self.decide_pii(ctx.project, reader.schema.names)
        data = materialize.stamp_lineage(reader, ctx.import_id, where=self.location)
        result = materialize.write(ctx, self, data, pii=decision.columns)
        self._record_lineage(ctx, decision)
        result.rows_in = materialize.count_rows(ctx.project, self.inputs)
        result.notes.extend(decision.notes())
        return result

    def _record_lineage(self, ctx: RunContext, decision: PiiDecision) -> None:
        ctx.project.store.record_job_lineage(
            self.name,
            self.output.qualified,
            decision.edges,
            decision.cleared,
            import_id=ctx.import_id,
        )

    def decide_pii(self, project: Project, output: Sequence[str]) -> PiiDecision:
        """The output's PII: declared ∪ derived from the inputs' PII − cleared.

        The inputs' PII is read from the catalog now, at run time, so a job reading
        another job's output sees the PII that job derived in this same run.
        """
        from civiclake.jobs import pii

        inputs = pii.catalog_inputs(project, self.lineage_tables())
        return pii.decide(
            output,
            self.column_lineage(inputs, output),
            inputs,
            declared=self.options.pii,
            cleared=self.options.pii_cleared,
            where=self.location,
            cleared_where=self.cleared_where(),
        )

    def lineage_tables(self) -> list[str]:
        """The ``schema.table`` names whose catalog columns lineage is traced against."""
        return [ref.qualified for ref in self.inputs]

    def cleared_where(self) -> dict[str, str]:
        """Where each ``pii_cleared`` column is declared (file and line), for errors."""
        return {}

    @abstractmethod
    def column_lineage(
        self, inputs: Mapping[str, InputColumns], output: Sequence[str]
    ) -> dict[str, Derivation]:
        """What each output column derives from; unknown ones unresolved (see jobs/pii.py)."""

    @abstractmethod
    def compute(self, ctx: RunContext) -> pa.RecordBatchReader:
        """The job's result as an Arrow stream (inputs are registered in ``ctx.session``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} → {self.output.qualified}>"
