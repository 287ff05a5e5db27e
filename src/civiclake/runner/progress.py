"""How a run shows itself while it works: a :class:`Reporter` (the CLI's draws Rich progress
bars, :mod:`civiclake.cli.render`), or nothing (tests, CI logs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from civiclake.steps import StepOutcome


class Reporter(Protocol):
    def start(self, names: list[str]) -> None: ...
    def node_started(self, name: str) -> None: ...
    def node_progress(self, name: str, done: int, total: int | None) -> None: ...
    def node_finished(self, outcome: StepOutcome) -> None: ...
    def stop(self) -> None: ...


class NullReporter:
    """Shows nothing; the summary and run history tell what happened."""

    def start(self, names: list[str]) -> None:
        pass

    def node_started(self, name: str) -> None:
        pass

    def node_progress(self, name: str, done: int, total: int | None) -> None:
        pass

    def node_finished(self, outcome: StepOutcome) -> None:
        pass

    def stop(self) -> None:
        pass
