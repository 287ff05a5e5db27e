"""Validation of files-source YAML: errors name the file, key and the fix."""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.exceptions import ConfigError

from .conftest import MakeSource


def test_format_typo_suggests_the_closest(make_source: MakeSource) -> None:
    with pytest.raises(ConfigError) as info:
        make_source(format="cvs")
    message = str(info.value)
    assert "rent_accounts.yaml, line" in message
    assert "key `format`: 'cvs' is not allowed" in message
    assert "(did you mean `csv`?)" in message


def test_encoding_and_unknown_keys(make_source: MakeSource) -> None:
    with pytest.raises(ConfigError, match=r"csv\.encoding.*did you mean `latin-1`"):
        make_source(csv={"encoding": "latin1"})
    with pytest.raises(ConfigError, match=r"unknown key \(did you mean `patterns`\?\)"):
        make_source(pattern=["*.csv"])


def test_bad_type_name_and_dataset_name(make_source: MakeSource) -> None:
    with pytest.raises(ConfigError, match="is not a type name"):
        make_source(columns={"balance": "DECIMAL(12,2); DROP TABLE x"})
    with pytest.raises(ConfigError, match=r"lowercase SQL name, e\.g\. `rent_accounts`"):
        make_source(dataset="Rent Accounts")


def test_defaults(project: Project, make_source: MakeSource) -> None:
    source = make_source(name="Rent-Accounts")
    assert [str(o) for o in source.outputs] == ["housing_raw.rent_accounts"]
    assert source.folder() == (
        project.dir / "data" / "landing" / "housing" / "Rent-Accounts",
        True,
    )
    assert source.config.csv.delimiter == "auto" and source.config.format == "auto"
