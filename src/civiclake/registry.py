"""Extension points: named plug-ins found through Python entry points.

Source connectors, engines and step providers are looked up by name in an
entry-point group. civiclake's own are registered the same way, in its
``pyproject.toml``, so a package adding a connector or an engine is a peer of
the built-ins (datasette's practice)::

    [project.entry-points."civiclake.sources"]
    sharepoint = "council_connectors.sharepoint:SharePointSource"

Groups:

``civiclake.sources``  a source ``type:`` → its :class:`~civiclake.ingest.base.Source` class
``civiclake.engines``  an ``engine.name`` → its :class:`~civiclake.engines.base.Engine` class
``civiclake.steps``    a stage → its :class:`~civiclake.steps.StepProvider`
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from civiclake.config.suggest import did_you_mean
from civiclake.exceptions import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """The plug-ins of one entry-point group, loaded on first use."""

    def __init__(self, group: str, what: str) -> None:
        self.group = group
        self.what = what
        """How a message names one entry (``source type``, ``engine``)."""

    def names(self) -> list[str]:
        return sorted(_group(self.group))

    def load(self, name: str, *, where: str = "") -> T:
        """The plug-in called ``name``; an unknown one is a :class:`ConfigError` with the
        known names and a suggestion."""
        found = _group(self.group).get(name)
        if found is None:
            prefix = f"{where}: " if where else ""
            known = self.names()
            if not known:
                raise ConfigError(
                    f"no {self.what}s are registered (entry points {self.group!r}): civiclake "
                    "is not installed in this environment; install it with `pip install -e .` "
                    "or `make env`"
                )
            raise ConfigError(
                f"{prefix}unknown {self.what} {name!r}{did_you_mean(name, known)}. "
                f"Allowed: {', '.join(known)}"
            )
        loaded: T = found.load()
        return loaded

    def load_all(self) -> dict[str, T]:
        return {name: self.load(name) for name in self.names()}


@cache
def _group(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


__all__ = ["Registry"]
