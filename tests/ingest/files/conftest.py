"""Helpers for files-source tests: declare a source, drop files, run it, read tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from civiclake import Project
from civiclake.ingest import load_sources
from civiclake.ingest.files.source import FilesSource

MakeSource = Callable[..., FilesSource]


@pytest.fixture
def make_source(project: Project) -> MakeSource:
    """Write ``sources/<dept>/<name>.yaml`` and load it the way the project does."""

    def make(name: str = "rent_accounts", dept: str = "housing", **settings: Any) -> FilesSource:
        path = project.dir / "sources" / dept / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        settings.setdefault("min_file_age_seconds", 0)
        path.write_text(yaml.safe_dump({"type": "files", **settings}), encoding="utf-8")
        found = [s for s in load_sources(project) if s.name == f"{dept}/{name}"]
        assert isinstance(found[0], FilesSource)
        return found[0]

    return make
