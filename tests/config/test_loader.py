"""Configuration errors name the file, line, key, bad value, allowed values and a fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.config.secrets import REDACTOR, Secret
from civiclake.exceptions import ConfigError


def _write(project_dir: Path, text: str) -> None:
    (project_dir / "civiclake.yaml").write_text(text, encoding="utf-8")


def test_loads_defaults_and_adds_required_departments(tmp_path: Path) -> None:
    _write(tmp_path, "name: test\ndepartments:\n  - Housing Repairs\n")
    project = Project.load(tmp_path)
    assert project.departments == ["housing-repairs", "unrestricted", "sandbox"]
    assert project.config.engine.name == "duckdb"
    assert project.layout.root == str((tmp_path / "data").resolve())


def test_bad_literal_names_key_line_allowed_values_and_closest(tmp_path: Path) -> None:
    _write(tmp_path, "name: test\nengine:\n  name: duckbd\n")
    with pytest.raises(ConfigError) as err:
        Project.load(tmp_path)
    message = str(err.value)
    assert "civiclake.yaml, line 3" in message
    assert "`engine.name`" in message
    assert "'duckbd'" in message
    assert "'duckdb', 'spark'" in message
    assert "did you mean `duckdb`?" in message


def test_unknown_key_suggests_the_closest_allowed_key(tmp_path: Path) -> None:
    _write(tmp_path, "name: test\nrun:\n  thread: 4\n")
    with pytest.raises(ConfigError) as err:
        Project.load(tmp_path)
    assert "`run.thread`: unknown key (did you mean `threads`?)" in str(err.value)


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    _write(tmp_path, "name: test\nrun:\n  retries: lots\n")
    with pytest.raises(ConfigError, match=r"line 3, key `run.retries`.*'lots'"):
        Project.load(tmp_path)


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    _write(tmp_path, "name: test\ndepartments: [housing\n")
    with pytest.raises(ConfigError, match=r"civiclake.yaml, line \d+, column \d+: invalid YAML"):
        Project.load(tmp_path)


def test_duplicate_department_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "name: t\ndepartments:\n  - housing\n  - Housing\n")
    with pytest.raises(ConfigError, match="department listed twice: housing"):
        Project.load(tmp_path)


def test_missing_project_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="civiclake init"):
        Project.load(tmp_path)


def test_secret_reference_is_resolved_only_when_revealed_and_then_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_DB_PASSWORD", "s3cr3t-value")
    secret = Secret("postgresql://etl:${TEST_DB_PASSWORD}@db/lake")
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret)
    assert secret.reveal() == "postgresql://etl:s3cr3t-value@db/lake"
    assert REDACTOR("login failed for s3cr3t-value") == "login failed for ***"


def test_missing_secret_variable_names_it_without_a_value() -> None:
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE_42 is not set"):
        Secret("${NOT_SET_ANYWHERE_42}").reveal({})


def test_secret_values_are_masked_in_validation_errors(tmp_path: Path) -> None:
    _write(tmp_path, "name: t\nmetadata:\n  url: 42\n  token: hunter2-secret\n")
    with pytest.raises(ConfigError) as err:
        Project.load(tmp_path)
    assert "hunter2-secret" not in str(err.value)


def test_dotenv_supplies_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CL_TEST_DB", raising=False)
    _write(tmp_path, "name: t\nmetadata:\n  url: sqlite:///${CL_TEST_DB}\n")
    (tmp_path / ".env").write_text(f"CL_TEST_DB={tmp_path}/meta.db\n")
    project = Project.load(tmp_path)
    assert project.store.url.endswith("meta.db")
    assert str(project.config.metadata.url) == "sqlite:///${CL_TEST_DB}"
    project.store.close()
    monkeypatch.delenv("CL_TEST_DB", raising=False)


def test_a_second_projects_env_replaces_the_firsts_but_not_the_real_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two projects in one process must not share .env values (masking keys, the demo's URLs)."""
    from civiclake.config.secrets import from_environment, load_dotenv

    monkeypatch.delenv("CIVICLAKE_T_KEY", raising=False)
    monkeypatch.setenv("CIVICLAKE_T_REAL", "person")
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("CIVICLAKE_T_KEY=first\nCIVICLAKE_T_REAL=file\n")
    second.write_text("CIVICLAKE_T_KEY=second\nCIVICLAKE_T_REAL=file\n")
    load_dotenv(first)
    assert os.environ["CIVICLAKE_T_KEY"] == "first"
    load_dotenv(second)
    assert os.environ["CIVICLAKE_T_KEY"] == "second"
    assert os.environ["CIVICLAKE_T_REAL"] == "person"
    assert from_environment("CIVICLAKE_T_KEY") is None
    assert from_environment("CIVICLAKE_T_REAL") == "person"
    monkeypatch.delenv("CIVICLAKE_T_KEY")
