"""How a run shows itself while it works: Rich progress bars, or nothing (tests, CI logs)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

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


_STYLE = {"success": "green", "failed": "red", "blocked": "yellow"}


class RichReporter:
    """An overall bar plus one line per running step."""

    def __init__(self, console: Any = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None
        self._lock = threading.Lock()

    def start(self, names: list[str]) -> None:
        self._progress.start()
        self._overall = self._progress.add_task("[bold]run", total=len(names))

    def node_started(self, name: str) -> None:
        with self._lock:
            self._tasks[name] = self._progress.add_task(f"  {name}", total=None)

    def node_progress(self, name: str, done: int, total: int | None) -> None:
        task = self._tasks.get(name)
        if task is not None:
            self._progress.update(task, completed=done, total=total)

    def node_finished(self, outcome: StepOutcome) -> None:
        with self._lock:
            task = self._tasks.pop(outcome.name, None)
            style = _STYLE.get(outcome.status, "white")
            label = f"  [{style}]{outcome.name} {outcome.status}[/]"
            if task is None:
                task = self._progress.add_task(label, total=1)
            self._progress.update(task, description=label, completed=1, total=1)
            self._progress.advance(self._overall)

    def stop(self) -> None:
        self._progress.stop()
