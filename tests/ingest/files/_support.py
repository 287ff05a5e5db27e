"""Shared helpers for files-source tests: drop files, run a source, read its tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from civiclake import Project
from civiclake.ingest.files.source import FilesSource
from civiclake.lineage import new_import_id
from civiclake.steps import Counts, RunContext
from civiclake.storage import DatasetRef


def inbox(project: Project, dept: str = "housing", name: str = "rent_accounts") -> Path:
    path = Path(project.layout.landing_inbox(dept, name))
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(source: FilesSource, caplog: pytest.LogCaptureFixture | None = None) -> Counts:
    ctx = RunContext(
        project=source.project,
        run_id=1,
        import_id=new_import_id(),
        log=logging.getLogger("test.files"),
    )
    if caplog is not None:
        caplog.set_level(logging.INFO, logger="test.files")
    return source.run(ctx)


def rows(project: Project, ref: DatasetRef) -> list[dict[str, Any]]:
    """The table's rows in file order (by source file, then row)."""
    table = project.tables.read(project.layout.table_uri(ref))
    return sorted(table.to_pylist(), key=lambda r: (r["_source_file"], r["_source_row"]))


def raw(dept: str = "housing", name: str = "rent_accounts") -> DatasetRef:
    return DatasetRef(dept, "raw", name)


def rejected(dept: str = "housing", name: str = "rent_accounts") -> DatasetRef:
    return DatasetRef(dept, "raw", f"{name}__rejected")
