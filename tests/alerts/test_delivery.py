"""Failures reach the department that owns them: one alert per incident, one recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from civiclake import Runner
from civiclake.alerts import incidents

from ._support import Mailbox, Receiver, break_housing, free_port, make_council


def _channels(smtp_port: int, hook: str, parking_hook: str) -> str:
    return f"""
alerts:
  channels:
    housing-mail:
      type: email
      host: 127.0.0.1
      port: {smtp_port}
      starttls: false
      sender: civiclake@council.example
      to: housing-data@council.example
      departments: [housing]
    housing-hook:
      type: webhook
      url: {hook}
      departments: [housing]
    parking-hook:
      type: webhook
      url: {parking_hook}
      departments: [parking]
"""


def test_a_failing_step_alerts_once_and_recovers_once(
    tmp_path: Path, smtp: Mailbox, receiver: Receiver
) -> None:
    project = make_council(
        tmp_path, _channels(smtp.port, receiver.url("/housing"), receiver.url("/parking"))
    )
    break_housing(project)
    summary = Runner(project).run()
    assert {s.name: s.status for s in summary.steps} == {
        "housing/rent_summary": "failed",
        "parking/by_ward": "success",
    }
    assert len(smtp.messages) == 1
    [mail] = smtp.messages
    assert "FAILED: housing/rent_summary (housing)" in str(mail["Subject"])
    assert mail["To"] == "housing-data@council.example"
    body = mail.get_payload()
    assert "the rent feed was empty" in body and f"civiclake runs show {summary.run_id}" in body
    [hook] = receiver.bodies("/housing")
    assert hook["event"] == "alert" and hook["kind"] == "failure"
    assert hook["subject"] == "housing/rent_summary" and hook["department"] == "housing"
    assert "the rent feed was empty" in hook["message"]
    assert receiver.bodies("/parking") == []  # housing's failure is not parking's business

    # the same failure in two more runs is the same incident: nothing more is sent
    Runner(project).run()
    Runner(project).run()
    assert len(smtp.messages) == 1 and len(receiver.bodies("/housing")) == 1
    [incident] = incidents(project)
    assert incident.subject == "housing/rent_summary" and incident.notified_at is not None

    break_housing(project, broken=False)
    assert Runner(project).run().ok
    assert len(smtp.messages) == 2
    assert "RECOVERED: housing/rent_summary" in str(smtp.messages[1]["Subject"])
    recovery = receiver.bodies("/housing")[1]
    assert recovery["event"] == "recovery" and recovery["closed_at"] is not None
    assert incidents(project) == []  # closed

    Runner(project).run()  # still fine: no news
    assert len(smtp.messages) == 2 and len(receiver.bodies("/housing")) == 2
    assert receiver.bodies("/parking") == []


def test_a_receiver_that_is_down_never_fails_the_run_and_gets_the_alert_later(
    tmp_path: Path, smtp: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    down = Receiver(free_port())  # nothing listens on its port yet
    project = make_council(tmp_path, _channels(smtp.port, down.url(), down.url("/parking")))
    break_housing(project, broken=False)
    assert Runner(project).run().ok  # nothing to say, and an unreachable channel costs nothing

    break_housing(project)
    summary = Runner(project).run()
    assert [s.status for s in summary.steps] == ["failed", "success"]
    [incident] = incidents(project)
    assert incident.notified_at is None  # the webhook did not take it: due again
    assert len(smtp.messages) == 1  # e-mail did
    log = summary.log_path.read_text()
    assert "alert not delivered (will retry)" in log and "housing-hook" in log

    down.start()
    try:
        Runner(project).run()  # the next evaluation delivers what is due
        assert len(down.bodies()) == 1
        [incident] = incidents(project)
        assert incident.notified_at is not None
        Runner(project).run()
        assert len(down.bodies()) == 1
    finally:
        down.stop()


def test_secrets_never_reach_an_alert(
    tmp_path: Path, smtp: Mailbox, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "pw-7c1e9d42"
    monkeypatch.setenv("DRS_PASSWORD", secret)
    project = make_council(
        tmp_path, _channels(smtp.port, receiver.url("/housing"), receiver.url("/parking"))
    )
    # a database source whose URL holds the password (the run reveals it to connect; the
    # server is not there, so the source fails) and a job whose error echoes the password
    (project.dir / "sources" / "housing" / "drs.yaml").write_text(
        "type: database\nurl: postgresql://etl:${DRS_PASSWORD}@127.0.0.1:1/drs\n"
        "tables:\n  work_orders: {key: work_order_id}\n"
    )
    (project.dir / "jobs" / "housing" / "leaky.py").write_text(
        "import os\n\nfrom civiclake import job\n\n\n"
        "@job(inputs=['housing_raw.rents'])\n"
        "def leaky(rents):\n"
        "    raise RuntimeError('login refused for ' + os.environ['DRS_PASSWORD'])\n"
    )
    summary = Runner(project, retries=0).run()
    failed = sorted(s.name for s in summary.steps if s.status == "failed")
    assert failed == ["housing/drs", "housing/leaky"]
    assert len(smtp.messages) == 2 and len(receiver.bodies("/housing")) == 2
    said = "\n".join(m.as_string() for m in smtp.messages) + str(receiver.posts)
    assert "login refused for ***" in said
    assert secret not in said
    assert all(secret not in i.message for i in incidents(project))
