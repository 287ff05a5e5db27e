"""One-off actions (a backfill, a history rebuild) run as steps of a run.

Running them through :class:`~civiclake.runner.runner.Runner` gives them what
every step has: a run id and import id, retries of transient failures, the
redacted log file and a line in ``civiclake runs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from civiclake.runner.context import NodeKind, RunContext, StepResult
    from civiclake.storage import DatasetRef


@dataclass
class Action:
    """A step that calls ``action(ctx)``."""

    kind: ClassVar[NodeKind] = "source"
    name: str
    department: str
    action: Callable[[RunContext], StepResult]
    outputs: list[DatasetRef] = field(default_factory=list)
    inputs: list[DatasetRef] = field(default_factory=list)

    def run(self, ctx: RunContext) -> StepResult:
        return self.action(ctx)
