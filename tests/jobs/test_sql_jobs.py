"""SQL job files: the header, the inputs found in the query, and what is refused."""

from __future__ import annotations

import pytest

from civiclake.exceptions import CivicLakeError
from civiclake.jobs import JobDefinitionError, SqlJob
from civiclake.storage import DatasetRef


def load_one(lake, text: str, relative: str = "housing/accounts.sql") -> SqlJob:
    lake.job(relative, text)
    (job,) = lake.jobs().values()
    assert isinstance(job, SqlJob)
    return job


# -- header ---------------------------------------------------------------------


def test_header_sets_every_option(lake):
    job = load_one(
        lake,
        "-- zone: trusted\n"
        "-- key: account_ref, ward_code\n"
        "-- materialize: incremental\n"
        "-- description: Rent accounts, one row per account,\n"
        "-- description: typed and cleaned.\n"
        "-- owner: housing-data@council.example\n"
        "-- pii: tenant_name, phone\n"
        "SELECT 1 AS account_ref, 2 AS ward_code\n",
    )
    opts = job.options
    assert opts.zone == "trusted"
    assert opts.key == ["account_ref", "ward_code"]
    assert opts.materialize == "incremental"
    assert opts.description == "Rent accounts, one row per account, typed and cleaned."
    assert opts.owner == "housing-data@council.example"
    assert opts.pii == ["tenant_name", "phone"]
    assert job.name == "housing/accounts"
    assert job.definition.kind == "job"
    assert job.outputs == [DatasetRef("housing", "trusted", "accounts")]


def test_without_header_a_job_is_a_refined_table(lake):
    job = load_one(lake, "SELECT 1 AS x")
    assert (job.options.zone, job.options.materialize, job.options.key) == ("refined", "table", [])
    assert job.output == DatasetRef("housing", "refined", "accounts")


def test_header_ends_at_first_other_line(lake):
    """Comments after the header are the analyst's own, even when they contain a colon."""
    job = load_one(lake, "-- zone: trusted\n\n-- note: weekly figures\nSELECT 1 AS x\n")
    assert job.options.zone == "trusted"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "-- zone: refined\n-- materialise: table\n",
            ["line 2", "unknown option `materialise`", "did you mean `materialize`?"],
        ),
        (
            "-- materialize: incremantal\n-- key: id\n",
            [
                "line 1",
                "'incremantal' is not allowed",
                "did you mean `incremental`?",
                "table, append",
            ],
        ),
        ("-- zone: raw\n", ["line 1", "zone 'raw' is not allowed", "Allowed: refined, trusted"]),
        ("-- materialize: incremental\n", ["needs a key"]),
        ("-- key: Account Ref\n", ["line 1", "'Account Ref' is not a column name"]),
        ("-- zone: refined\n-- zone: trusted\n", ["line 2", "`zone` is set twice"]),
    ],
)
def test_bad_header_names_file_line_and_fix(lake, header, expected):
    with pytest.raises(JobDefinitionError) as info:
        load_one(lake, header + "SELECT 1 AS id")
    message = str(info.value)
    assert message.startswith("jobs/housing/accounts.sql")
    for part in expected:
        assert part in message


# -- inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "inputs"),
    [
        (
            "SELECT * FROM housing_raw.rent_accounts JOIN unrestricted_raw.wards USING (ward_code)",
            ["housing_raw.rent_accounts", "unrestricted_raw.wards"],
        ),
        (  # a CTE is not an input, even when named like a dataset
            "WITH rent_accounts AS (SELECT * FROM housing_raw.rent_accounts)\n"
            "SELECT * FROM rent_accounts",
            ["housing_raw.rent_accounts"],
        ),
        (
            "SELECT * FROM housing_raw.rent_accounts\n"
            "WHERE ward_code IN (SELECT ward_code FROM (SELECT * FROM unrestricted_raw.wards))",
            ["housing_raw.rent_accounts", "unrestricted_raw.wards"],
        ),
        (
            'SELECT * FROM "housing_raw"."Rent_Accounts" UNION ALL '
            "SELECT * FROM parking_refined.permits",
            ["housing_raw.rent_accounts", "parking_refined.permits"],
        ),
        ("SELECT range AS n FROM range(3)", []),
    ],
)
def test_inputs_are_found_in_the_sql(lake, sql, inputs):
    job = load_one(lake, sql)
    assert [ref.qualified for ref in job.inputs] == inputs


def test_unknown_schema_suggests_the_closest_dataset(lake):
    with pytest.raises(JobDefinitionError) as info:
        load_one(lake, "SELECT * FROM hosuing_raw.rent_accounts")
    assert str(info.value).startswith(
        "unknown table hosuing_raw.rent_accounts in jobs/housing/accounts.sql "
        "(did you mean housing_raw.rent_accounts?)"
    )


def test_table_without_schema_says_how_to_name_it(lake):
    with pytest.raises(JobDefinitionError, match=r"e\.g\. housing_raw\.rent_accounts$"):
        load_one(lake, "SELECT * FROM rent_accounts")


def test_table_without_schema_suggests_the_dataset_of_that_name(lake):
    lake.dataset("unrestricted_raw.wards", {"ward_code": ["W1"]})
    with pytest.raises(JobDefinitionError) as info:
        load_one(lake, "SELECT * FROM wards")
    assert str(info.value).startswith(
        "jobs/housing/accounts.sql: table wards has no schema "
        "(did you mean unrestricted_raw.wards?)"
    )


# -- what is refused ----------------------------------------------------------------


def test_sql_that_does_not_parse_names_line_and_column(lake):
    with pytest.raises(JobDefinitionError) as info:
        load_one(lake, "-- zone: refined\nSELECT *\nFROM housing_raw.rent_accounts\nWHERE (a > 1\n")
    message = str(info.value)
    assert message.startswith("jobs/housing/accounts.sql, line 4, column")
    assert "does not parse" in message


def test_unclosed_quote_is_a_definition_error(lake):
    with pytest.raises(JobDefinitionError, match="does not parse"):
        load_one(lake, "SELECT 'open FROM housing_raw.rent_accounts")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("CREATE TABLE housing_refined.x AS SELECT 1", "not CREATE"),
        ("INSERT INTO housing_refined.x SELECT 1", "not INSERT"),
        ("DELETE FROM housing_raw.rent_accounts", "not DELETE"),
        ("SELECT 1; SELECT 2", "found 2 statements"),
        ("-- zone: refined\n", "no query found"),
    ],
)
def test_only_one_select_is_a_job(lake, sql, expected):
    with pytest.raises(JobDefinitionError, match=expected):
        load_one(lake, sql)


@pytest.mark.parametrize(
    "header",
    [
        "-- department: parking\n",
        "-- output: parking_refined.accounts\n",
        "-- schema: parking_trusted\n",
    ],
)
def test_a_job_writes_only_its_own_department(lake, header):
    with pytest.raises(JobDefinitionError) as info:
        load_one(lake, header + "SELECT 1 AS x")
    assert "a job in jobs/housing/ writes only housing datasets" in str(info.value)
    assert "line 1" in str(info.value)


def test_naming_its_own_department_is_harmless(lake):
    job = load_one(lake, "-- department: housing\nSELECT 1 AS x")
    assert job.output.department == "housing"


def test_unknown_department_folder_suggests_one(lake):
    lake.job("hosuing/accounts.sql", "SELECT 1 AS x")
    with pytest.raises(
        CivicLakeError, match=r"unknown department 'hosuing' \(did you mean `housing`"
    ):
        lake.jobs()


def test_files_starting_with_underscore_are_skipped(lake):
    lake.job("housing/_draft.sql", "this is not SQL")
    lake.job("housing/accounts.sql", "SELECT 1 AS x")
    assert list(lake.jobs()) == ["housing/accounts"]


def test_sql_and_python_job_with_one_name_are_refused(lake):
    lake.job("housing/accounts.sql", "SELECT 1 AS x")
    lake.job(
        "housing/accounts.py",
        "from civiclake import job\n\n@job()\ndef accounts():\n    return None\n",
    )
    with pytest.raises(JobDefinitionError, match="are both the job housing/accounts"):
        lake.jobs()
