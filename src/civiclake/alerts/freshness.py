"""Freshness targets: ``freshness: 26h`` on a source or a job, measured against now.

*Last written*, for each dataset a step produces, is the later of two facts in the
metadata store: when the producing step last **succeeded** (``run_steps.ended_at`` of
its newest successful step; a run that found nothing new still proves the data is
current, so a quiet council system is not "stale") and when the catalog last recorded a
write of the dataset (``datasets.updated_at``; covers writes outside a run). A step is
overdue when its *oldest* dataset is older than the target; a step that has never
written is not overdue (its failures are alerts of their own) but shows as never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from civiclake.config.durations import parse_duration, short
from civiclake.metadata import schema as t

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.steps import StepDefinition


@dataclass(frozen=True)
class Freshness:
    """One step's freshness against its target at ``now``."""

    step: str
    kind: str
    department: str
    datasets: tuple[str, ...]
    target: str
    limit: timedelta
    last_written: datetime | None
    now: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.last_written is None else self.now - self.last_written

    @property
    def overdue(self) -> bool:
        age = self.age
        return age is not None and age > self.limit

    def describe(self) -> str:
        """``26h target, last written 31h ago`` (or ``never written``)."""
        age = self.age
        if age is None:
            return f"{self.target} target, never written"
        return f"{self.target} target, last written {short(max(age, timedelta(0)))} ago"

    def message(self) -> str:
        what = ", ".join(self.datasets) or self.step
        if self.overdue:
            return (
                f"{what} is older than its freshness target ({self.describe()}); check "
                f"`civiclake status` and the latest runs of {self.step} (`civiclake runs`)"
            )
        return f"{what} is fresh again ({self.describe()})"


def measure(
    project: Project, definitions: Sequence[StepDefinition], now: datetime
) -> list[Freshness]:
    """Every step with a ``freshness:`` target, measured at ``now`` (aware, UTC)."""
    targeted = [d for d in definitions if d.freshness]
    if not targeted:
        return []
    succeeded = _last_successes(project, [d.name for d in targeted])
    written = {row["qualified_name"]: _aware(row["updated_at"]) for row in project.store.datasets()}
    found = []
    for d in targeted:
        names = tuple(ref.qualified for ref in d.writes)
        step_time = succeeded.get(d.name)
        times = []
        for name in names or (d.name,):
            candidates = [x for x in (step_time, written.get(name)) if x is not None]
            times.append(max(candidates) if candidates else None)
        last = None if not times or None in times else min(x for x in times if x is not None)
        found.append(
            Freshness(
                step=d.name,
                kind=d.kind,
                department=d.department,
                datasets=names,
                target=d.freshness,
                limit=parse_duration(d.freshness),
                last_written=last,
                now=now,
            )
        )
    return found


def _last_successes(project: Project, nodes: list[str]) -> dict[str, datetime]:
    steps = t.run_steps
    query = (
        sa.select(steps.c.node, sa.func.max(steps.c.ended_at).label("ended_at"))
        .where(steps.c.node.in_(nodes), steps.c.status == "success")
        .group_by(steps.c.node)
    )
    with project.store.engine.connect() as conn:
        return {r.node: _aware(r.ended_at) for r in conn.execute(query) if r.ended_at}  # type: ignore[misc]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


__all__ = ["Freshness", "measure"]
