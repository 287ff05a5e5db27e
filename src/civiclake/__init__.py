"""civiclake: a data platform in a box for public-sector data teams.

The public API — what scripts, notebooks, Python jobs and plug-ins import — is the names in
``__all__``; everything else is internal and may move between releases (docs/api.md lists
these with what each is for)::

    import civiclake

    project = civiclake.Project.load("council")
    summary = civiclake.Runner(project).run(["housing/rents"])
    rows = civiclake.run_query(project, "select * from housing_trusted.rents").read_all()

Names load on first use, so ``import civiclake`` (and ``civiclake --help``) stays quick.
"""

from __future__ import annotations

import typing as _typing
from importlib import import_module as _import_module

from civiclake.exceptions import (
    CivicLakeError,
    ConfigError,
    MetadataError,
    MissingDependencyError,
    PlanError,
    ProjectNotFoundError,
    Transient,
    TransientError,
)

if _typing.TYPE_CHECKING:
    from civiclake.access.exceptions import AccessDenied, AccessError
    from civiclake.catalog import Catalog
    from civiclake.engines.exceptions import EngineError
    from civiclake.ingest.exceptions import IngestError
    from civiclake.jobs.exceptions import JobDefinitionError, JobError
    from civiclake.jobs.python import job
    from civiclake.project import Project
    from civiclake.project.scaffold import init_project
    from civiclake.publish.exceptions import WarehouseError
    from civiclake.query import run_query
    from civiclake.runner.runner import Runner, RunSummary
    from civiclake.snapshots import HistoryResult, HistorySpec, apply_increment
    from civiclake.steps import (
        Counts,
        RunContext,
        SourceCapabilities,
        Step,
        StepDefinition,
        StepOutcome,
    )
    from civiclake.storage import DatasetRef
    from civiclake.storage.exceptions import CommitConflictError, StorageError

__version__ = "0.1.0.dev0"

_LAZY = {
    # a project and running it
    "Project": "civiclake.project",
    "init_project": "civiclake.project.scaffold",
    "Runner": "civiclake.runner.runner",
    "RunSummary": "civiclake.runner.runner",
    "run_query": "civiclake.query",
    "Catalog": "civiclake.catalog",
    "DatasetRef": "civiclake.storage",
    # Python jobs and history
    "job": "civiclake.jobs.python",
    "HistorySpec": "civiclake.snapshots",
    "HistoryResult": "civiclake.snapshots",
    "apply_increment": "civiclake.snapshots",
    # writing a step (a source or an action) as a plug-in
    "Step": "civiclake.steps",
    "StepDefinition": "civiclake.steps",
    "SourceCapabilities": "civiclake.steps",
    "RunContext": "civiclake.steps",
    "Counts": "civiclake.steps",
    "StepOutcome": "civiclake.steps",
    # errors of the parts
    "StorageError": "civiclake.storage.exceptions",
    "CommitConflictError": "civiclake.storage.exceptions",
    "IngestError": "civiclake.ingest.exceptions",
    "JobError": "civiclake.jobs.exceptions",
    "JobDefinitionError": "civiclake.jobs.exceptions",
    "EngineError": "civiclake.engines.exceptions",
    "AccessError": "civiclake.access.exceptions",
    "AccessDenied": "civiclake.access.exceptions",
    "WarehouseError": "civiclake.publish.exceptions",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'civiclake' has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AccessDenied",
    "AccessError",
    "Catalog",
    "CivicLakeError",
    "CommitConflictError",
    "ConfigError",
    "Counts",
    "DatasetRef",
    "EngineError",
    "HistoryResult",
    "HistorySpec",
    "IngestError",
    "JobDefinitionError",
    "JobError",
    "MetadataError",
    "MissingDependencyError",
    "PlanError",
    "Project",
    "ProjectNotFoundError",
    "RunContext",
    "RunSummary",
    "Runner",
    "SourceCapabilities",
    "Step",
    "StepDefinition",
    "StepOutcome",
    "StorageError",
    "Transient",
    "TransientError",
    "WarehouseError",
    "__version__",
    "apply_increment",
    "init_project",
    "job",
    "run_query",
]
