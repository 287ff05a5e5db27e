"""Publishing as a step of ``civiclake run``, after everything it publishes.

When ``warehouse.url`` is set, :meth:`Project.nodes` adds this step; its inputs are the
datasets the run's sources and jobs write in the published zones, so the runner orders
it after them (and skips it when one of them failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.runner.context import Node, NodeKind, RunContext, StepResult
    from civiclake.storage import DatasetRef

STEP_NAME = "publish"
"""The step's name in ``civiclake run`` (``unrestricted/publish``)."""


class PublishStep:
    """Copy the latest (and history) of the published zones to the PostgreSQL warehouse."""

    kind: ClassVar[NodeKind] = "job"

    def __init__(self, project: Project, inputs: Sequence[DatasetRef]) -> None:
        self.project = project
        self._inputs = list(inputs)

    @property
    def name(self) -> str:
        return f"{self.department}/{STEP_NAME}"

    @property
    def department(self) -> str:
        from civiclake.access.policy import PUBLIC_DEPARTMENT

        return PUBLIC_DEPARTMENT

    @property
    def inputs(self) -> list[DatasetRef]:
        return self._inputs

    @property
    def outputs(self) -> list[DatasetRef]:
        return []

    def run(self, ctx: RunContext) -> StepResult:
        from civiclake.publish import publish
        from civiclake.runner.context import StepResult

        notes: list[str] = []
        results = publish(self.project, notes=notes)
        result = StepResult(notes=notes)
        for done in results:
            result.rows_out += done.rows_written
            if done.mode != "unchanged":
                result.notes.append(
                    f"{done.dataset}: {done.mode}, {done.rows_written} rows written, "
                    f"{done.rows_deleted} deleted"
                )
        return result


def publish_step(project: Project, nodes: Sequence[Node]) -> PublishStep:
    zones = set(project.config.warehouse.zones)
    inputs = {ref for node in nodes for ref in node.outputs if ref.zone in zones}
    return PublishStep(project, sorted(inputs))
