"""Validation of planning_api source files: errors name the file, key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from civiclake import Project
from civiclake.exceptions import ConfigError
from civiclake.ingest import load_sources
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.planning.source import PlanningApiSource
from civiclake.storage import DatasetRef

BASE: dict[str, Any] = {
    "type": "planning_api",
    "url": "https://planning.example.gov.uk/rest/v1/",
    "public_key": "${PLANNING_API_PUBLIC_KEY}",
    "private_key": "${PLANNING_API_PRIVATE_KEY}",
    "tables": {"applications": {"drop": ["gis_map_image_base64"]}, "wards": None},
}


def declare(project: Project, **changes: Any) -> PlanningApiSource:
    path = project.dir / "sources" / "housing" / "planning_api.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**BASE, **changes}), encoding="utf-8")
    (found,) = [s for s in load_sources(project) if s.name == "housing/planning_api"]
    assert isinstance(found, PlanningApiSource)
    return found


def test_defaults_and_outputs(project: Project) -> None:
    source = declare(
        project, tables={"applications": {"dataset": "planning_applications"}, "wards": {}}
    )
    cfg = source.config
    assert cfg.url == "https://planning.example.gov.uk/rest/v1"
    assert (cfg.lookback_days, cfg.overlap_days, cfg.concurrency, cfg.retries) == (60, 2, 4, 4)
    assert cfg.paging.total_header == "X-Number-Of-Results"
    wards = cfg.tables["wards"]
    assert (wards.key, wards.version, wards.deleted, wards.nested) == (
        ["id"],
        "last_updated",
        "ceased",
        "flatten",
    )
    assert source.outputs == [
        DatasetRef("housing", "refined", "planning_applications"),
        DatasetRef("housing", "refined", "wards"),
    ]
    spec = source.history_spec("applications")
    assert (spec.key, spec.version, spec.deleted) == (("id",), "last_updated", "ceased")


def test_a_table_left_empty_takes_the_defaults(project: Project) -> None:
    source = declare(project)
    assert source.config.tables["wards"].key == ["id"]


def test_type_overrides_are_checked_when_the_file_is_read(project: Project) -> None:
    source = declare(project, tables={"fees": {"types": {"fee": "decimal(12, 2)"}}})
    assert source.config.tables["fees"].types == {"fee": "DECIMAL(12,2)"}
    with pytest.raises(ConfigError) as info:
        declare(project, tables={"fees": {"types": {"fee": "DUBBLE"}}})
    message = str(info.value)
    assert "planning_api.yaml, line" in message and "tables.fees.types" in message
    assert "did you mean `DOUBLE`" in message


def test_typos_get_the_allowed_values(project: Project) -> None:
    with pytest.raises(ConfigError, match=r"unknown key \(did you mean `lookback_days`\?\)"):
        declare(project, look_back_days=30)
    with pytest.raises(ConfigError, match=r"did you mean `struct`"):
        declare(project, tables={"wards": {"nested": "structs"}})
    with pytest.raises(ConfigError, match="starts with https://"):
        declare(project, url="planning.example.gov.uk")
    with pytest.raises(ConfigError, match=r"key `tables`"):
        declare(project, tables={})


def test_keys_are_secrets_never_shown(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNING_API_PRIVATE_KEY", "s3cr3t-value")
    source = declare(project)
    assert "s3cr3t-value" not in repr(source.config)
    assert source.config.private_key.env_vars == ["PLANNING_API_PRIVATE_KEY"]


def test_an_unknown_table_is_named_with_a_suggestion(project: Project) -> None:
    source = declare(project)
    with pytest.raises(IngestError, match=r"no table 'application'.*did you mean `applications`"):
        source.dataset("application")


def test_landing_lives_under_the_source_folder(project: Project) -> None:
    source = declare(project)
    folder = source.batches("applications").folder
    assert (
        folder
        == Path(project.layout.root) / "landing" / "housing" / "planning_api" / "applications"
    )
