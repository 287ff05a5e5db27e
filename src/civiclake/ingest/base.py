"""The shape every source connector shares.

A connector is a sub-package of :mod:`civiclake.ingest` (``files/``, later
``planning_api/``, ``kafka/``, ``database/``) with a ``config.py`` holding its
pydantic settings and a ``source.py`` holding a :class:`Source` subclass.
Register it in the ``civiclake.sources`` entry points (see :mod:`civiclake.registry`).

A source is declared by one YAML file, ``sources/<department>/<name>.yaml``,
whose ``type`` key picks the connector.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from civiclake.config.loader import read_yaml, validate
from civiclake.exceptions import ConfigError
from civiclake.ingest.config import SourceConfig
from civiclake.registry import Registry
from civiclake.steps import (
    NO_CAPABILITIES,
    Broken,
    SourceCapabilities,
    StepDefinition,
    StepProvider,
)

if TYPE_CHECKING:
    from civiclake.ingest.landing import Inbox
    from civiclake.project import Project
    from civiclake.steps import Counts, RunContext
    from civiclake.storage import DatasetRef

C = TypeVar("C", bound=SourceConfig)

SOURCE_TYPES: Registry[type[Source[SourceConfig]]] = Registry("civiclake.sources", "source type")
"""Connector registry: ``type`` in a source file → its :class:`Source` class (entry points)."""


class Source(ABC, Generic[C]):
    """One declared ingestion, writing raw datasets of its department."""

    type: ClassVar[str]
    config_model: ClassVar[builtins.type[SourceConfig]]
    capabilities: ClassVar[SourceCapabilities] = NO_CAPABILITIES
    """What this connector offers beyond ``run``; each flag has its protocol in
    :mod:`civiclake.steps`."""

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
    def definition(self) -> StepDefinition:
        return StepDefinition(
            self.name,
            "source",
            self.department,
            reads=tuple(self.inputs),
            writes=tuple(self.outputs),
            type=self.type,
            path=self.config_file,
            description=self.config.description,
            schedule=self.config.schedule or "",
            freshness=self.config.freshness or "",
            capabilities=self.capabilities,
        )

    @property
    def config_file(self) -> str:
        """The source's YAML file, relative to the project when inside it (for messages)."""
        try:
            return self.path.resolve().relative_to(self.project.dir).as_posix()
        except ValueError:
            return str(self.path)

    def inbox(
        self,
        ctx: RunContext,
        dataset: str,
        *,
        from_inbox: bool,
        min_age_seconds: float,
        same_name_only: bool = False,
    ) -> Inbox:
        """Today's landing inbox protocol for this source (see :class:`.landing.Inbox`)."""
        from datetime import UTC, datetime
        from pathlib import Path

        from civiclake.ingest.landing import Inbox, LocalLanding

        today = datetime.now(UTC).strftime("%Y-%m-%d")
        archive = self.project.layout.landing_archive(self.department, self.source_name, today)
        return Inbox(
            source=self.name,
            dataset=dataset,
            archive=LocalLanding(Path(archive)),
            root=self.project.layout.root,
            from_inbox=from_inbox,
            min_age_seconds=min_age_seconds,
            store=self.project.store,
            log=ctx.log,
            same_name_only=same_name_only,
        )

    @property
    @abstractmethod
    def outputs(self) -> list[DatasetRef]:
        """The raw datasets this source writes."""

    @abstractmethod
    def run(self, ctx: RunContext) -> Counts:
        """Load whatever is new; safe to re-run after a crash at any point."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def source_class(type_name: str, path: Path) -> type[Source[SourceConfig]]:
    return SOURCE_TYPES.load(type_name, where=f"{path}, key `type`")


def load_sources(project: Project, *, keep_broken: bool = False) -> list[Source[SourceConfig]]:
    """Every ``sources/<department>/<name>.yaml`` of the project, validated.

    ``keep_broken``: a file that does not load becomes a :class:`~civiclake.steps.Broken`
    step that fails alone when run, instead of stopping every department's run.
    """
    root = project.dir / "sources"
    found: list[Source[SourceConfig]] = []
    if not root.is_dir():
        return found
    for path in sorted([*root.glob("*/*.yaml"), *root.glob("*/*.yml")]):
        department = project.require_department(path.parent.name, where=str(path))
        try:
            found.append(_load_source(project, department, path))
        except ConfigError as exc:
            if not keep_broken:
                raise
            broken = Broken.of_file(
                project,
                name=f"{department}/{path.stem}",
                kind="source",
                department=department,
                path=_relative(project, path),
                error=exc,
            )
            found.append(broken)  # type: ignore[arg-type]
    for path in sorted(root.glob("*.y*ml")):
        raise ConfigError(
            f"{path}: source files live in a department folder, e.g. "
            f"sources/<department>/{path.name}"
        )
    return found


def _load_source(project: Project, department: str, path: Path) -> Source[SourceConfig]:
    data, node = read_yaml(path)
    if not isinstance(data, dict) or "type" not in data:
        raise ConfigError(f"{path}: a source file needs a `type` key (e.g. `type: files`)")
    cls = source_class(str(data["type"]), path)
    config: SourceConfig = validate(data, cls.config_model, path=path, node=node)
    return cls(project, department, path.stem, config, path)


def _relative(project: Project, path: Path) -> str:
    try:
        return path.relative_to(project.dir).as_posix()
    except ValueError:
        return str(path)


STEPS = StepProvider("sources", lambda project, upstream: load_sources(project, keep_broken=True))
"""The ingest stage's steps: one per source file."""
