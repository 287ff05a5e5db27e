"""Creating projects and adding departments keeps the user's YAML intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from civiclake import Project
from civiclake.exceptions import ConfigError
from civiclake.jobs import load_jobs
from civiclake.project.scaffold import add_department, init_project


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    root = init_project(tmp_path / "Riverside Council", departments=["Housing", "parking"])
    project = Project.load(root)
    assert project.config.name == "riverside-council"
    assert project.departments == ["unrestricted", "sandbox", "housing", "parking"]
    assert "/data/" in (root / ".gitignore").read_text()
    assert ".env" in (root / ".gitignore").read_text()


def test_add_department_keeps_comments_and_order(tmp_path: Path) -> None:
    root = init_project(tmp_path / "c")
    config = root / "civiclake.yaml"
    before = config.read_text()
    assert add_department(root, "Housing Repairs") == "housing-repairs"
    after = config.read_text()
    assert after.replace("  - housing-repairs\n", "") == before
    assert Project.load(root).departments[-1] == "housing-repairs"


def test_add_department_to_a_list_of_mappings(tmp_path: Path) -> None:
    (tmp_path / "civiclake.yaml").write_text(
        "name: t\ndepartments:\n  - id: housing\n    owner: rents team\n# trailing comment\n"
    )
    add_department(tmp_path, "parking")
    assert Project.load(tmp_path).departments == ["housing", "parking", "unrestricted", "sandbox"]
    assert "# trailing comment" in (tmp_path / "civiclake.yaml").read_text()


def test_add_department_refuses_duplicates_and_flow_lists(tmp_path: Path) -> None:
    (tmp_path / "civiclake.yaml").write_text("name: t\ndepartments: [housing]\n")
    with pytest.raises(ConfigError, match="already"):
        add_department(tmp_path, "HOUSING")
    with pytest.raises(ConfigError, match="one item per line"):
        add_department(tmp_path, "parking")


def test_add_department_creates_the_list_when_missing(tmp_path: Path) -> None:
    (tmp_path / "civiclake.yaml").write_text("name: t\n")
    add_department(tmp_path, "finance")
    assert "finance" in Project.load(tmp_path).departments


def test_unknown_department_folder_suggests_the_closest(tmp_path: Path) -> None:
    root = init_project(tmp_path / "c", departments=["housing"])
    (root / "jobs" / "housnig").mkdir()
    (root / "jobs" / "housnig" / "x.sql").write_text("SELECT 1 AS x\n")
    with pytest.raises(ConfigError, match="did you mean `housing`"):
        load_jobs(Project.load(root))
