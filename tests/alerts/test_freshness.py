"""Freshness targets, measured with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from civiclake import Runner
from civiclake.alerts import check_freshness, freshness, incidents

from ._support import Receiver, make_council

HOOK = "\nalerts:\n  channels:\n    parking:\n      type: webhook\n      url: {url}\n"


def test_overdue_data_alerts_once_and_recovers_when_written_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    project = make_council(tmp_path, HOOK.format(url=receiver.url()))
    assert Runner(project).run(["parking/by_ward"]).ok
    t0 = datetime.now(UTC)

    assert check_freshness(project, now=t0 + timedelta(hours=1)).opened == []
    assert receiver.bodies() == []

    late = check_freshness(project, now=t0 + timedelta(hours=31))
    [incident] = late.opened
    assert incident.kind == "freshness" and incident.subject == "parking/by_ward"
    assert "26h target, last written 31h ago" in incident.message
    assert "parking_refined.by_ward" in incident.message
    [alert] = receiver.bodies()
    assert alert["event"] == "alert" and alert["kind"] == "freshness"
    assert check_freshness(project, now=t0 + timedelta(hours=40)).opened == []
    assert len(receiver.bodies()) == 1  # still overdue: the same incident

    # the job writes its dataset again: the run closes the incident, one recovery
    assert Runner(project).run(["parking/by_ward"]).ok
    assert [b["event"] for b in receiver.bodies()] == ["alert", "recovery"]
    assert incidents(project) == []
    assert check_freshness(project).closed == []


def test_a_write_outside_a_run_counts_and_check_freshness_closes(
    tmp_path: Path, receiver: Receiver
) -> None:
    project = make_council(tmp_path, HOOK.format(url=receiver.url()))
    assert Runner(project).run(["parking/by_ward"]).ok
    t0 = datetime.now(UTC)
    assert len(check_freshness(project, now=t0 + timedelta(days=2)).opened) == 1
    project.catalog.write(
        project.dataset("parking", "refined", "by_ward"),
        pa.table({"ward": ["Hill"], "n": [1]}),
        mode="overwrite",
        producer="parking/by_ward",
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    [closed] = check_freshness(project, now=later).closed
    assert closed.subject == "parking/by_ward"
    assert [b["event"] for b in receiver.bodies()] == ["alert", "recovery"]


def test_freshness_is_measured_per_step_overdue_first(tmp_path: Path, receiver: Receiver) -> None:
    project = make_council(tmp_path, "")
    (project.dir / "jobs" / "parking" / "quick.sql").write_text(
        "-- freshness: 30m\nSELECT count(*) AS n FROM parking_raw.permits\n"
    )
    never = freshness(project)
    assert {f.step: f.describe() for f in never} == {
        "parking/by_ward": "26h target, never written",
        "parking/quick": "30m target, never written",
    }
    assert check_freshness(project).opened == []  # never written is not overdue
    assert Runner(project).run(["parking/by_ward", "parking/quick"]).ok
    found = freshness(project, now=datetime.now(UTC) + timedelta(hours=2))
    assert [(f.step, f.overdue) for f in found] == [
        ("parking/quick", True),
        ("parking/by_ward", False),
    ]
    assert found[0].describe() == "30m target, last written 2h ago"
