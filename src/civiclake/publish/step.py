"""Publishing as a step of ``civiclake run``, after everything it publishes.

When ``warehouse.url`` is set, the ``publish`` step provider adds this step; its inputs are the
datasets the run's sources and jobs write in the published zones, so the runner orders
it after them (and skips it when one of them failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from civiclake.steps import Counts, StepDefinition, StepProvider

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.steps import RunContext, Step
    from civiclake.storage import DatasetRef

STEP_NAME = "publish"
"""The step's name in ``civiclake run`` (``unrestricted/publish``)."""


class PublishStep:
    """Copy the latest (and history) of the published zones to the PostgreSQL warehouse."""

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
    def definition(self) -> StepDefinition:
        return StepDefinition(
            self.name,
            "publish",
            self.department,
            reads=tuple(self._inputs),
            description="copy the published zones to the PostgreSQL warehouse",
        )

    def run(self, ctx: RunContext) -> Counts:
        from civiclake.publish import publish

        notes: list[str] = []
        results = publish(self.project, notes=notes)
        result = Counts(notes=notes)
        for done in results:
            result.rows_out += done.rows_written
            if done.mode != "unchanged":
                result.notes.append(
                    f"{done.dataset}: {done.mode}, {done.rows_written} rows written, "
                    f"{done.rows_deleted} deleted"
                )
        return result


def publish_step(project: Project, steps: Sequence[Step]) -> PublishStep:
    zones = set(project.config.warehouse.zones)
    inputs = {ref for step in steps for ref in step.definition.writes if ref.zone in zones}
    return PublishStep(project, sorted(inputs))


def _provide(project: Project, upstream: Sequence[Step]) -> list[Step]:
    if project.config.warehouse.url is None:
        return []
    return [publish_step(project, upstream)]


STEPS = StepProvider("publish", _provide, after=("sources", "jobs"))
"""Publishing, after every step writing a published zone (when a warehouse is set)."""
