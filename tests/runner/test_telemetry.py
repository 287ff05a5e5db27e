"""Step telemetry recorded by a real run: CPU time, bytes read, DuckDB's spill to disk."""

from __future__ import annotations

import pyarrow as pa
import pytest
from tests.cli._support import cli_streams

from civiclake import Project, Runner
from civiclake.storage import DatasetRef

RENTS = DatasetRef("housing", "raw", "rents")


def _limited(project: Project, memory_limit: str) -> Project:
    engine = project.config.engine.model_copy(update={"memory_limit": memory_limit, "threads": 2})
    return Project(project.dir, project.config.model_copy(update={"engine": engine}))


def _seed(project: Project, rows: int) -> None:
    project.catalog.write(
        RENTS,
        pa.table(
            {"tenancy": [f"T{i}" for i in range(rows)], "balance": [float(i) for i in range(rows)]}
        ),
        mode="overwrite",
        producer="test",
    )


def test_a_job_that_does_not_fit_in_memory_records_its_spill(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(project, 300_000)
    (project.dir / "jobs" / "housing" / "sorted.sql").write_text(
        "SELECT tenancy, md5(tenancy || x::varchar) AS h, balance\n"
        "FROM housing_raw.rents, range(12) AS r(x)\nORDER BY h\n",
        encoding="utf-8",
    )
    small = _limited(project, "100MB")
    summary = Runner(small).run(["housing/sorted"])
    assert summary.ok, summary.failed
    (step,) = small.store.steps(summary.run_id)
    assert step.spilled_bytes is not None and step.spilled_bytes > 10 * 1024**2
    assert step.cpu_seconds is not None and step.cpu_seconds > 0
    assert step.bytes_read is not None and step.bytes_read > 1024**2
    assert not list((project.dir / ".civiclake" / "tmp").glob("step-*")), "spill folder left"
    code, out, _ = cli_streams(capsys, "runs", "show", str(summary.run_id), "-p", str(project.dir))
    assert code == 0
    header = next(line for line in out.splitlines() if "spilled" in line)
    row = next(line for line in out.splitlines() if "housing/sorted" in line)
    cells = [c.strip() for c in row.split("│")]
    spilled = cells[[c.strip() for c in header.split("┃")].index("spilled")]
    assert spilled.endswith("MB"), row


def test_a_job_that_fits_records_no_spill(project: Project) -> None:
    _seed(project, 1_000)
    (project.dir / "jobs" / "housing" / "small.sql").write_text(
        "SELECT tenancy, balance FROM housing_raw.rents ORDER BY tenancy\n", encoding="utf-8"
    )
    summary = Runner(project).run(["housing/small"])
    assert summary.ok
    (step,) = project.store.steps(summary.run_id)
    assert step.spilled_bytes == 0
    assert step.cpu_seconds is not None and 0 < step.cpu_seconds < summary.seconds * 4
    assert step.rows_out == 1_000
