"""Shared fixtures: a fresh project in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from civiclake.project import Project
from civiclake.project.scaffold import init_project


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A new project with housing and parking departments (plus unrestricted, sandbox)."""
    return init_project(tmp_path / "council", departments=["housing", "parking"])


@pytest.fixture
def project(project_dir: Path) -> Iterator[Project]:
    proj = Project.load(project_dir)
    yield proj
    if "store" in proj.__dict__:
        proj.store.close()
