"""Helpers for job tests: datasets written for real, jobs written as files, runs."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from civiclake import Project
from civiclake.jobs import Job, load_jobs
from civiclake.steps import Counts, RunContext
from civiclake.storage import DatasetRef

EXAMPLES = Path(__file__).parent / "examples"


class Lake:
    """A test project seen the way a job author sees it."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def dataset(
        self,
        qualified: str,
        data: dict[str, list[Any]] | pa.Table,
        *,
        pii: list[str] | None = None,
    ) -> DatasetRef:
        """Write (overwrite) an input dataset, as a source would (``pii`` as its config says)."""
        ref = self.project.parse_dataset(qualified)
        assert ref is not None, qualified
        table = data if isinstance(data, pa.Table) else pa.table(data)
        self.project.catalog.write(ref, table, mode="overwrite", producer="test", pii=pii or [])
        return ref

    def job(self, relative: str, text: str) -> Path:
        """Write ``jobs/<relative>`` (e.g. ``housing/x.sql``)."""
        path = self.project.dir / "jobs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def example(self, relative: str) -> Path:
        """Copy a job from tests/jobs/examples/ into the project."""
        return self.job(relative, (EXAMPLES / relative).read_text(encoding="utf-8"))

    def all_examples(self) -> None:
        """Copy every example job into the project."""
        shutil.copytree(EXAMPLES, self.project.dir / "jobs", dirs_exist_ok=True)

    def jobs(self) -> dict[str, Job]:
        return {j.name: j for j in load_jobs(self.project)}

    def run(self, name: str, import_id: str = "import-1") -> Counts:
        job = self.jobs()[name]
        ctx = RunContext(self.project, 1, import_id, logging.getLogger("test"))
        try:
            return job.run(ctx)
        finally:
            ctx.close()

    def query(self, sql: str, *datasets: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` run by the project's engine over ``datasets``."""
        refs = [self.project.parse_dataset(q) for q in datasets]
        session = self.project.engine().session()
        try:
            session.register([r for r in refs if r is not None])
            table = session.sql(sql).read_all()
        finally:
            session.close()
        return [tuple(row.values()) for row in table.to_pylist()]

    def columns(self, qualified: str) -> list[str]:
        ref = self.project.parse_dataset(qualified)
        assert ref is not None
        return self.project.tables.read(self.project.layout.table_uri(ref)).column_names


@pytest.fixture
def lake(project: Project) -> Iterator[Lake]:
    yield Lake(project)


@pytest.fixture
def housing_inputs(lake: Lake) -> Lake:
    """The raw datasets the example jobs read."""
    lake.dataset(
        "housing_raw.rent_accounts",
        {
            "account_ref": ["A1", "A2", "A3"],
            "tenant_name": [" Ann ", "Bob", "Cy"],
            "ward_code": ["W1", "W1", "W2"],
            "status": ["open", "open", "closed"],
            "balance": [120.5, -3.0, 10.0],
        },
    )
    lake.dataset(
        "unrestricted_raw.wards", {"ward_code": ["W1", "W2"], "ward_name": ["Hoxton", "Dalston"]}
    )
    return lake


@pytest.fixture
def council_lake(council: Project) -> Iterator[Lake]:
    """The shared ``council`` project (PII tagged, users with grants) as a Lake."""
    yield Lake(council)
