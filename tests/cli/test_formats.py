"""`runs` and `datasets` as JSON or CSV, for scripts: every field, nothing cut off."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest

from civiclake import Project, Runner

from ._support import cli


@pytest.fixture
def lake(project: Project) -> Project:
    project.catalog.write(
        project.dataset("housing", "raw", "rent_accounts_with_a_rather_long_name"),
        pa.table({"id": [1, 2]}),
        mode="overwrite",
        producer="test",
        key=["id"],
        description="Rent accounts as exported every month by the housing system",
    )
    Runner(project).run()
    return project


def test_datasets_as_json_and_csv(lake: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = cli(capsys, "datasets", "--format", "json", "-p", str(lake.dir))
    assert code == 0
    (row,) = json.loads(text)
    assert row["qualified_name"] == "housing_raw.rent_accounts_with_a_rather_long_name"
    assert (row["row_count"], row["key"]) == (2, ["id"])
    assert row["description"].endswith("by the housing system")
    code, text = cli(capsys, "datasets", "--format", "csv", "-p", str(lake.dir))
    (line,) = list(csv.DictReader(io.StringIO(text)))
    assert line["qualified_name"] == row["qualified_name"] and line["key"] == '["id"]'


def test_runs_as_json(lake: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = cli(capsys, "runs", "--format", "json", "-p", str(lake.dir))
    assert code == 0
    (run,) = json.loads(text)
    assert run["status"] == "success" and run["command"] == "run"
    assert run["started_at"].startswith("20") and run["seconds"] >= 0
