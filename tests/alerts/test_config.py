"""The `alerts:` block and `freshness:` targets are checked when the project loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from civiclake import Project, init_project
from civiclake.exceptions import ConfigError

from ._support import add_channels


def _load_with(tmp_path: Path, text: str) -> str:
    root = init_project(tmp_path / "council", departments=["housing"])
    add_channels(root, text)
    with pytest.raises(ConfigError) as caught:
        Project.load(root)
    return str(caught.value)


def test_a_wrong_template_gets_the_closest_one(tmp_path: Path) -> None:
    said = _load_with(
        tmp_path,
        "alerts:\n  channels:\n    chat:\n      type: webhook\n"
        "      url: https://x.example/hook\n      template: teamz\n",
    )
    assert "civiclake.yaml, line" in said and "alerts.channels.chat" in said
    assert "unknown webhook template 'teamz' (did you mean `teams`?)" in said
    assert "json, teams, google_chat, slack" in said


def test_a_wrong_channel_type_gets_the_closest_one(tmp_path: Path) -> None:
    said = _load_with(
        tmp_path, "alerts:\n  channels:\n    chat:\n      type: webhok\n      url: https://x\n"
    )
    assert "channel 'chat': type 'webhok' is not allowed (did you mean `webhook`?)" in said


def test_an_unknown_department_is_named(tmp_path: Path) -> None:
    said = _load_with(
        tmp_path,
        "alerts:\n  channels:\n    chat:\n      type: webhook\n      url: https://x\n"
        "      departments: [housin]\n",
    )
    assert "unknown department 'housin' (did you mean `housing`?)" in said


def test_email_needs_a_server_and_an_address(tmp_path: Path) -> None:
    said = _load_with(
        tmp_path,
        "alerts:\n  channels:\n    mail:\n      type: email\n      sender: a@x.example\n"
        "      to: [not-an-address]\n",
    )
    assert "host`: required but missing" in said
    assert "not-an-address is not an e-mail address" in said


def test_a_secret_url_is_masked_in_errors(tmp_path: Path) -> None:
    said = _load_with(
        tmp_path,
        "alerts:\n  channels:\n    chat:\n      type: webhook\n"
        "      url: https://hooks.example/T0/s3cr3t\n      timeout_seconds: -1\n",
    )
    assert "timeout_seconds" in said and "s3cr3t" not in said


def test_a_bad_freshness_on_a_source_names_the_file(tmp_path: Path) -> None:
    from civiclake.ingest import load_sources

    root = init_project(tmp_path / "council", departments=["housing"])
    (root / "sources" / "housing" / "rents.yaml").write_text(
        "type: files\ndataset: rents\npatterns: ['*.csv']\nfreshness: 26x\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_sources(Project.load(root))
    said = str(caught.value)
    assert "rents.yaml, line 4" in said and "freshness" in said and "26h" in said


def test_a_bad_freshness_in_a_job_header_fails_that_job(tmp_path: Path) -> None:
    from civiclake import Runner

    root = init_project(tmp_path / "council", departments=["housing"])
    (root / "jobs" / "housing" / "n.sql").write_text("-- freshness: soon\nSELECT 1 AS n\n")
    (root / "jobs" / "housing" / "ok.sql").write_text("-- freshness: 2d\nSELECT 1 AS n\n")
    summary = Runner(Project.load(root)).run()
    errors = {s.name: s.error or "" for s in summary.steps}
    assert (
        "jobs/housing/n.sql, line 1" in errors["housing/n"]
        and "30m, 26h, 2d" in errors["housing/n"]
    )
    assert {s.name: s.status for s in summary.steps}["housing/ok"] == "success"
