"""What a run runs: every stage's steps, found through the step providers.

The stages register a :class:`~civiclake.steps.StepProvider` each in the
``civiclake.steps`` entry points (sources, jobs, publish); :func:`discover`
calls them in the order their ``after`` declares and returns their steps.
The runner, the CLI and the scheduler all find steps here, so nothing else
needs to know which stages exist.
"""

from __future__ import annotations

import graphlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from civiclake.registry import Registry

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.steps import Step, StepProvider

PROVIDERS: Registry[StepProvider] = Registry("civiclake.steps", "stage")
"""The stages that provide steps (entry points ``civiclake.steps``)."""


def providers() -> list[StepProvider]:
    """Every registered provider, each after the ones it names in ``after``."""
    found = {p.name: p for p in PROVIDERS.load_all().values()}
    order = graphlib.TopologicalSorter(
        {name: [a for a in p.after if a in found] for name, p in found.items()}
    )
    return [found[name] for name in order.static_order()]


def discover(project: Project, stages: Sequence[str] | None = None) -> list[Step]:
    """The project's steps, stage by stage (only ``stages`` when given, e.g. ``["sources"]``).

    A provider sees the steps of the stages before it, so publishing can follow
    whatever writes a published zone.
    """
    chosen = set(stages) if stages is not None else None
    steps: list[Step] = []
    for provider in providers():
        if chosen is not None and provider.name not in chosen:
            continue
        steps.extend(provider.provide(project, list(steps)))
    return steps


__all__ = ["PROVIDERS", "discover", "providers"]
