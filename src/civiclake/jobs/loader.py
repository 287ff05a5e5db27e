"""Discovering jobs: every ``jobs/<department>/*.sql`` and ``*.py`` of a project.

The folder names the department, so a job can only ever write its own
department's datasets. Files starting with ``_`` are skipped (shared helpers,
work in progress). Loading parses every file, so a broken job is reported
here, before anything runs — not halfway through the night's run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from civiclake.jobs.exceptions import JobDefinitionError
from civiclake.steps import StepProvider

if TYPE_CHECKING:
    from civiclake.jobs.base import Job
    from civiclake.project import Project

JOB_SUFFIXES = (".sql", ".py")


def load_jobs(project: Project) -> list[Job]:
    """All the project's jobs, validated, sorted by name."""
    from civiclake.jobs.python import PythonJob
    from civiclake.jobs.sql import SqlJob

    root = project.dir / "jobs"
    if not root.is_dir():
        return []
    stray = next((p for p in sorted(root.iterdir()) if p.suffix in JOB_SUFFIXES), None)
    if stray is not None:
        raise JobDefinitionError(
            f"jobs/{stray.name}: jobs live in a department folder, e.g. "
            f"jobs/<department>/{stray.name}"
        )
    found: dict[str, Job] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.startswith(("_", ".")) or folder.name == "__pycache__":
            continue
        paths = sorted(p for p in folder.iterdir() if p.suffix in JOB_SUFFIXES)
        paths = [p for p in paths if not p.name.startswith("_") and p.is_file()]
        if not paths:
            continue
        department = project.require_department(folder.name, where=f"jobs/{folder.name}/")
        for path in paths:
            loaded: Job
            if path.suffix == ".sql":
                loaded = SqlJob.load(project, department, path)
            else:
                loaded = PythonJob.load(project, department, path)
            if loaded.name in found:
                raise JobDefinitionError(
                    f"jobs/{department}/: {found[loaded.name].path.name} and {path.name} "
                    f"are both the job {loaded.name}; a name holds one job, rename one file"
                )
            found[loaded.name] = loaded
    return [found[name] for name in sorted(found)]


STEPS = StepProvider("jobs", lambda project, upstream: load_jobs(project), after=("sources",))
"""The jobs stage's steps: one per job file."""
