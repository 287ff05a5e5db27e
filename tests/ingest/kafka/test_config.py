"""Settings of kafka and events sources: mistakes are named with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from civiclake import Project
from civiclake.exceptions import ConfigError
from civiclake.ingest.base import load_sources


def _source(project_dir: Path, text: str) -> None:
    folder = project_dir / "sources" / "housing"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.yaml").write_text(text)


def test_avro_needs_a_registry(project_dir: Path) -> None:
    _source(project_dir, "type: kafka\nbootstrap_servers: x:1\ntopic: t\n")
    with pytest.raises(ConfigError, match="schema_registry"):
        load_sources(Project.load(project_dir))


def test_format_typo_suggests(project_dir: Path) -> None:
    _source(
        project_dir,
        "type: kafka\nbootstrap_servers: x:1\ntopic: t\nformat: jsn\nschema_registry: http://r\n",
    )
    with pytest.raises(ConfigError, match="json"):
        load_sources(Project.load(project_dir))


def test_events_avro_files_need_no_registry(project_dir: Path) -> None:
    _source(project_dir, "type: events\ncurrent:\n  tenures: {prefix: tenure_, key: [id]}\n")
    (source,) = load_sources(Project.load(project_dir))
    assert [r.qualified for r in source.outputs] == [
        "housing_refined.events",
        "housing_refined.tenures",
    ]


def test_kafka_outputs_and_bootstrap_from_the_environment(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOUSING_KAFKA", "127.0.0.1:9092")
    _source(
        project_dir,
        "type: kafka\nbootstrap_servers: ${HOUSING_KAFKA}\ntopic: tenure_api\n"
        "schema_registry: http://r\ndataset: tenure_events\ncurrent:\n"
        "  tenures:\n    prefix: tenure_\n    key: [id]\n    children:\n"
        "      members: {field: household_members, parent_key: tenure_id, key: [id]}\n",
    )
    (source,) = load_sources(Project.load(project_dir))
    assert source.config.bootstrap_servers.reveal() == "127.0.0.1:9092"
    assert "HOUSING_KAFKA" in repr(source.config.bootstrap_servers)
    assert [r.qualified for r in source.outputs] == [
        "housing_raw.tenure_events",
        "housing_refined.tenure_events",
        "housing_refined.tenures",
        "housing_refined.members",
    ]
