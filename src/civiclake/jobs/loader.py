"""Discovering jobs: every ``jobs/<department>/*.sql`` and ``*.py`` of a project.

The folder names the department, so a job can only ever write its own
department's datasets. Files starting with ``_`` are skipped (shared helpers,
work in progress). Loading parses every file, so a broken job is reported
here, before anything runs — not halfway through the night's run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from civiclake.jobs.exceptions import JobDefinitionError
from civiclake.steps import Broken, StepProvider

if TYPE_CHECKING:
    from pathlib import Path

    from civiclake.jobs.base import Job
    from civiclake.project import Project

JOB_SUFFIXES = (".sql", ".py")


def load_jobs(project: Project, *, keep_broken: bool = False) -> list[Job]:
    """All the project's jobs, validated, sorted by name.

    ``keep_broken``: a file that does not load becomes a :class:`~civiclake.steps.Broken`
    step (a run fails it alone) instead of stopping the whole load — what a run wants; a
    check, a prune or ``civiclake new`` want the error.
    """
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
            try:
                if path.suffix == ".sql":
                    loaded = SqlJob.load(project, department, path)
                else:
                    loaded = PythonJob.load(project, department, path)
            except JobDefinitionError as exc:
                if not keep_broken:
                    raise
                loaded = _broken(project, department, path, exc)  # type: ignore[assignment]
            if loaded.name in found:
                raise JobDefinitionError(
                    f"jobs/{department}/: {found[loaded.name].path.name} and {path.name} "
                    f"are both the job {loaded.name}; a name holds one job, rename one file"
                )
            found[loaded.name] = loaded
    return [found[name] for name in sorted(found)]


def _broken(project: Project, department: str, path: Path, error: Exception) -> Broken:
    from civiclake.storage import DatasetRef

    name = f"{department}/{path.stem}"
    return Broken.of_file(
        project,
        name=name,
        kind="job",
        department=department,
        path=f"jobs/{department}/{path.name}",
        error=error,
        # where a job of this file writes unless its header says another zone
        writes=[DatasetRef(department, "refined", path.stem)],
    )


STEPS = StepProvider(
    "jobs", lambda project, upstream: load_jobs(project, keep_broken=True), after=("sources",)
)
"""The jobs stage's steps: one per job file."""
