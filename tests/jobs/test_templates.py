"""``civiclake new job``: templates that load and run as written."""

from __future__ import annotations

import pytest

from civiclake.exceptions import CivicLakeError
from civiclake.jobs import JobDefinitionError, new_job


@pytest.mark.parametrize("template", ["sql", "python"])
def test_template_reads_an_existing_dataset_and_runs(housing_inputs, template):
    lake = housing_inputs
    path = new_job(lake.project, "housing/accounts_clean", template)
    assert path == lake.project.dir / "jobs" / "housing" / f"accounts_clean.{path.suffix[1:]}"

    job = lake.jobs()["housing/accounts_clean"]
    assert [ref.qualified for ref in job.inputs] == ["housing_raw.rent_accounts"]
    result = lake.run("housing/accounts_clean")
    assert result.rows_out == 3
    assert lake.columns("housing_refined.accounts_clean")[:5] == [
        "account_ref",
        "tenant_name",
        "ward_code",
        "status",
        "balance",
    ]


@pytest.mark.parametrize("template", ["sql", "python"])
def test_template_runs_in_a_department_with_no_data_yet(lake, template):
    new_job(lake.project, "parking/permits_clean", template, zone="trusted")
    job = lake.jobs()["parking/permits_clean"]
    assert job.inputs == []
    assert job.output.qualified == "parking_trusted.permits_clean"
    assert lake.run("parking/permits_clean").rows_out == 1


def test_template_falls_back_to_shared_datasets(lake):
    lake.dataset("unrestricted_raw.wards", {"ward_code": ["W1"], "ward_name": ["Hoxton"]})
    new_job(lake.project, "parking/wards_copy")
    assert [r.qualified for r in lake.jobs()["parking/wards_copy"].inputs] == [
        "unrestricted_raw.wards"
    ]


def test_sql_template_explains_its_header(lake):
    text = new_job(lake.project, "housing/arrears").read_text()
    assert text.startswith("-- zone: refined\n-- materialize: table\n")
    assert "incremental (upsert by key; needs key)" in text
    assert "civiclake run housing/arrears" in text


def test_name_is_normalised_to_an_identifier(lake):
    path = new_job(lake.project, "Housing/Rent Arrears (weekly)")
    assert path.name == "rent_arrears_weekly.sql"
    assert "housing/rent_arrears_weekly" in lake.jobs()


def test_existing_job_is_never_overwritten(lake):
    new_job(lake.project, "housing/arrears", "python")
    with pytest.raises(JobDefinitionError, match=r"jobs/housing/arrears.py already exists"):
        new_job(lake.project, "housing/arrears", "sql")


def test_unknown_department_suggests_one(lake):
    with pytest.raises(
        CivicLakeError, match=r"unknown department 'parkin' \(did you mean `parking`"
    ):
        new_job(lake.project, "parkin/permits")


def test_name_without_department_says_the_form(lake):
    with pytest.raises(JobDefinitionError, match="<department>/<name>"):
        new_job(lake.project, "permits")
