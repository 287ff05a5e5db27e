"""Jobs: SQL and Python transforms from datasets to one dataset.

``jobs/<department>/<name>.sql`` is one SELECT with a header of options;
``jobs/<department>/<name>.py`` is one ``@job`` function. Both are runnable
:class:`~civiclake.steps.Step` objects found by :func:`load_jobs`.

Attributes are imported on first use: ``import civiclake`` reaches this package
(for ``civiclake.job``) and must not pay for pydantic or sqlglot.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from civiclake.jobs.exceptions import JobDefinitionError, JobError
from civiclake.jobs.python import JobSpec, job

if TYPE_CHECKING:
    from civiclake.jobs.base import Job
    from civiclake.jobs.loader import STEPS, load_jobs
    from civiclake.jobs.options import JobOptions
    from civiclake.jobs.portable import transpile
    from civiclake.jobs.python import PythonJob
    from civiclake.jobs.sql import SqlJob
    from civiclake.jobs.templates import new_job

_LAZY = {
    "Job": "civiclake.jobs.base",
    "JobOptions": "civiclake.jobs.options",
    "STEPS": "civiclake.jobs.loader",
    "PythonJob": "civiclake.jobs.python",
    "SqlJob": "civiclake.jobs.sql",
    "load_jobs": "civiclake.jobs.loader",
    "new_job": "civiclake.jobs.templates",
    "transpile": "civiclake.jobs.portable",
}

__all__ = [
    "STEPS",
    "Job",
    "JobDefinitionError",
    "JobError",
    "JobOptions",
    "JobSpec",
    "PythonJob",
    "SqlJob",
    "job",
    "load_jobs",
    "new_job",
    "transpile",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'civiclake.jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
