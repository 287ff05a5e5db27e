"""Department ids, schema names and column names follow one rule everywhere."""

from __future__ import annotations

import pytest

from civiclake.naming import column_names, department_id, schema_name, snake_case
from civiclake.storage import DatasetRef


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Housing Repairs", "housing-repairs"),
        ("  data & insight ", "data-insight"),
        ("Adult_Social_Care", "adult-social-care"),
        ("Éducation", "education"),
    ],
)
def test_department_ids_are_lowercase_with_dashes(raw: str, expected: str) -> None:
    assert department_id(raw) == expected


def test_schema_names_use_underscores() -> None:
    assert schema_name("housing-repairs", "refined") == "housing_repairs_refined"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nom du Locataire", "nom_du_locataire"),
        ("Balance (£)", "balance"),
        ("Date de Début", "date_de_debut"),
        ("tenancyRef", "tenancy_ref"),
        ("HTTPStatus", "http_status"),
        ("2024 total", "c_2024_total"),
        ("", "column"),
    ],
)
def test_column_names_are_snake_case_ascii(raw: str, expected: str) -> None:
    assert snake_case(raw) == expected


def test_duplicate_column_names_get_suffixes() -> None:
    assert column_names(["Name", "name", "NAME "]) == ["name", "name_2", "name_3"]


def test_dataset_refs_parse_back_from_sql_names() -> None:
    depts = ["housing-repairs", "housing", "unrestricted"]
    ref = DatasetRef.parse("housing_repairs_raw.work_orders", depts)
    assert ref == DatasetRef("housing-repairs", "raw", "work_orders")
    assert DatasetRef.parse("housing_trusted.arrears", depts) == DatasetRef(
        "housing", "trusted", "arrears"
    )
    assert DatasetRef.parse("planning_raw.applications", depts) is None
    assert DatasetRef.parse("housing_gold.x", depts) is None
