"""What each webhook template sends, to a real HTTP receiver, and `report` for checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from civiclake import Project, init_project
from civiclake.alerts import report, send_test

from ._support import Mailbox, Receiver, add_channels, free_port


def _project(tmp_path: Path, receiver: Receiver, template: str) -> Project:
    root = init_project(tmp_path / "council", departments=["housing"])
    add_channels(
        root,
        f"alerts:\n  channels:\n    chat:\n      type: webhook\n"
        f"      url: {receiver.url()}\n      template: {template}\n",
    )
    return Project.load(root)


def _check_fails(project: Project, failing: bool = True) -> None:
    report(
        project,
        kind="check",
        department="housing",
        subject="housing_refined.tenures: not_null(tenancy_ref)",
        failing=failing,
        message="3 rows of housing_refined.tenures have no tenancy_ref",
    )


def test_teams_gets_an_adaptive_card(tmp_path: Path, receiver: Receiver) -> None:
    _check_fails(_project(tmp_path, receiver, "teams"))
    [body] = receiver.bodies()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, text = card["body"]
    assert title["type"] == "TextBlock" and "CHECK FAILED" in title["text"]
    assert "3 rows of housing_refined.tenures" in text["text"]


def test_slack_gets_text_and_a_section_block(tmp_path: Path, receiver: Receiver) -> None:
    _check_fails(_project(tmp_path, receiver, "slack"))
    [body] = receiver.bodies()
    assert "CHECK FAILED" in body["text"]
    [block] = body["blocks"]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert "no tenancy_ref" in block["text"]["text"]


def test_google_chat_gets_one_text(tmp_path: Path, receiver: Receiver) -> None:
    project = _project(tmp_path, receiver, "google_chat")
    _check_fails(project)
    _check_fails(project)  # still failing: no second alert
    _check_fails(project, failing=False)
    first, recovery = receiver.bodies()
    assert list(first) == ["text"] and first["text"].startswith("*[civiclake council] CHECK")
    assert "CHECK PASSING AGAIN" in recovery["text"]


def test_plain_json_names_everything(tmp_path: Path, receiver: Receiver) -> None:
    _check_fails(_project(tmp_path, receiver, "json"))
    [body] = receiver.bodies()
    assert {k: body[k] for k in ("event", "project", "department", "kind")} == {
        "event": "alert",
        "project": "council",
        "department": "housing",
        "kind": "check",
    }
    assert body["subject"] == "housing_refined.tenures: not_null(tenancy_ref)"
    assert body["opened_at"] and body["closed_at"] is None


def test_alerts_test_reaches_each_channel(
    tmp_path: Path, receiver: Receiver, smtp: Mailbox
) -> None:
    root = init_project(tmp_path / "council", departments=["housing"])
    add_channels(
        root,
        f"alerts:\n  channels:\n    hook:\n      type: webhook\n      url: {receiver.url()}\n"
        f"    mail:\n      type: email\n      host: 127.0.0.1\n      port: {smtp.port}\n"
        "      starttls: false\n      sender: a@council.example\n      to: [b@council.example]\n"
        f"    dead:\n      type: webhook\n      url: http://127.0.0.1:{free_port()}/x\n",
    )
    project = Project.load(root)
    results = send_test(project)
    assert results["hook"] is None and results["mail"] is None
    assert "alerts channel 'dead'" in (results["dead"] or "")
    assert "test message" in receiver.bodies()[0]["title"]
    assert "test message" in smtp.subjects()[0]
    from civiclake.exceptions import ConfigError

    with pytest.raises(ConfigError, match="did you mean `hook`"):
        send_test(project, "hok")
