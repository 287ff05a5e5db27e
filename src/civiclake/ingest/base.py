"""The shape every source connector shares.

A connector is a sub-package of :mod:`civiclake.ingest` (``files/``, later
``planning_api/``, ``kafka/``, ``database/``) with a ``config.py`` holding its
pydantic settings and a ``source.py`` holding a :class:`Source` subclass.
Register it in :data:`SOURCE_TYPES` by short name.

A source is declared by one YAML file, ``sources/<department>/<name>.yaml``,
whose ``type`` key picks the connector.
"""

from __future__ import annotations

import builtins
import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from civiclake.config.loader import read_yaml, validate
from civiclake.config.suggest import did_you_mean
from civiclake.exceptions import ConfigError
from civiclake.ingest.config import SourceConfig

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.runner.context import NodeKind, RunContext, StepResult
    from civiclake.storage import DatasetRef

C = TypeVar("C", bound=SourceConfig)

SOURCE_TYPES: dict[str, str] = {
    "files": "civiclake.ingest.files.source:FilesSource",
    "planning_api": "civiclake.ingest.planning.source:PlanningApiSource",
    "database": "civiclake.ingest.database.source:DatabaseSource",
    "kafka": "civiclake.ingest.kafka.source:KafkaSource",
    "events": "civiclake.ingest.events.source:EventsSource",
}
"""Connector registry: ``type`` in a source file → ``module:Class``, imported on use."""


class Source(ABC, Generic[C]):
    """One declared ingestion, writing raw datasets of its department."""

    kind: ClassVar[NodeKind] = "source"
    type: ClassVar[str]
    config_model: ClassVar[builtins.type[SourceConfig]]

    def __init__(
        self, project: Project, department: str, source_name: str, config: C, path: Path
    ) -> None:
        self.project = project
        self._department = department
        self.source_name = source_name
        self.config = config
        self.path = path

    @property
    def name(self) -> str:
        return f"{self._department}/{self.source_name}"

    @property
    def department(self) -> str:
        return self._department

    @property
    def inputs(self) -> list[DatasetRef]:
        return []

    @property
    def config_file(self) -> str:
        """The source's YAML file, relative to the project when inside it (for messages)."""
        try:
            return self.path.resolve().relative_to(self.project.dir).as_posix()
        except ValueError:
            return str(self.path)

    @property
    @abstractmethod
    def outputs(self) -> list[DatasetRef]:
        """The raw datasets this source writes."""

    @abstractmethod
    def run(self, ctx: RunContext) -> StepResult:
        """Load whatever is new; safe to re-run after a crash at any point."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def source_class(type_name: str, path: Path) -> type[Source[SourceConfig]]:
    target = SOURCE_TYPES.get(type_name)
    if target is None:
        raise ConfigError(
            f"{path}, key `type`: unknown source type {type_name!r}"
            f"{did_you_mean(type_name, SOURCE_TYPES)}. Allowed: {', '.join(sorted(SOURCE_TYPES))}"
        )
    module, _, cls = target.partition(":")
    found: type[Source[SourceConfig]] = getattr(importlib.import_module(module), cls)
    return found


def load_sources(project: Project) -> list[Source[SourceConfig]]:
    """Every ``sources/<department>/<name>.yaml`` of the project, validated."""
    root = project.dir / "sources"
    found: list[Source[SourceConfig]] = []
    if not root.is_dir():
        return found
    for path in sorted([*root.glob("*/*.yaml"), *root.glob("*/*.yml")]):
        department = project.require_department(path.parent.name, where=str(path))
        data, node = read_yaml(path)
        if not isinstance(data, dict) or "type" not in data:
            raise ConfigError(f"{path}: a source file needs a `type` key (e.g. `type: files`)")
        cls = source_class(str(data["type"]), path)
        config: SourceConfig = validate(data, cls.config_model, path=path, node=node)
        found.append(cls(project, department, path.stem, config, path))
    for path in sorted(root.glob("*.y*ml")):
        raise ConfigError(
            f"{path}: source files live in a department folder, e.g. "
            f"sources/<department>/{path.name}"
        )
    return found
