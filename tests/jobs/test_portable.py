"""Job SQL is written for DuckDB and must also run on Spark, transpiled by sqlglot."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from civiclake.jobs import JobDefinitionError, SqlJob, new_job, transpile

EXAMPLES = sorted((Path(__file__).parent / "examples").glob("*/*.sql"))


def test_every_example_job_transpiles_to_spark(lake):
    lake.all_examples()
    jobs = [j for j in lake.jobs().values() if isinstance(j, SqlJob)]
    assert {j.path.name for j in jobs} == {p.name for p in EXAMPLES}
    for job in jobs:
        spark_sql = job.transpile("spark")
        parsed = sqlglot.parse_one(spark_sql, read="spark")
        tables = {f"{t.db}.{t.name}" for t in parsed.find_all(sqlglot.exp.Table) if t.db}
        assert tables == {ref.qualified for ref in job.inputs}, job.name


def test_sql_template_transpiles_to_spark(housing_inputs):
    path = new_job(housing_inputs.project, "housing/accounts_clean", "sql")
    assert "FROM housing_raw.rent_accounts" in transpile(path.read_text(), to="spark")


def test_duckdb_functions_are_rewritten_for_spark():
    assert transpile("SELECT list_value(1, 2) AS xs") == "SELECT ARRAY(1, 2) AS xs"


def test_untranspilable_sql_is_a_definition_error():
    with pytest.raises(JobDefinitionError, match="does not parse"):
        transpile("SELECT (1", where="jobs/housing/x.sql")
    with pytest.raises(JobDefinitionError, match="expected one query"):
        transpile("SELECT 1; SELECT 2")
