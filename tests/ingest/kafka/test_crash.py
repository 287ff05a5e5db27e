"""Crashes, broker restarts and rebalances: every message lands exactly once.

The crashes land on fault points (``tests/_faults.py``): just before and after each commit.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests import _faults

from civiclake import Project, init_project
from civiclake.simulators.housing import TENURE_TOPIC

from ._support import (
    expected_members,
    kafka_source,
    new_prefix,
    produce,
    query,
    tenure_offsets,
    write_source,
)
from .test_source import _high_watermarks

LOG = logging.getLogger("test")
ROOT = Path(__file__).resolve().parents[3]
KILLER = Path(__file__).with_name("_killer.py")


def _exactly_once(project: Project, bootstrap: str, topic: str) -> None:
    highs = _high_watermarks(bootstrap, topic)
    expected = [(p, o) for p, high in highs.items() for o in range(high)]
    assert tenure_offsets(project) == expected
    decoded = query(
        project,
        "SELECT _partition AS p, _offset AS o FROM housing_refined.tenure_events ORDER BY 1, 2",
    )
    rejected = query(
        project,
        "SELECT _partition AS p, _offset AS o FROM housing_raw.tenure_events__rejected",
    )
    both = sorted([(r["p"], r["o"]) for r in decoded] + [(r["p"], r["o"]) for r in rejected])
    assert both == expected  # each message decoded or rejected, once


def _killer(project_dir: Path, logs: Path, points: str) -> list[str]:
    """Run ``_killer.py``: one child per fault point in ``points`` (or one unkilled: ``count``)."""
    logs.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, str(KILLER), str(project_dir), str(logs), points],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


def _batch_commits(commits: list[str]) -> list[str]:
    """The commits of one whole batch after the first (which creates the tables)."""
    raw = [i for i, c in enumerate(commits) if c.endswith(" raw/housing/tenure_events")]
    assert len(raw) >= 3, commits
    return commits[raw[1] : raw[2]]


@pytest.mark.slow
def test_sigkill_at_every_commit_of_a_batch_then_resume(
    project_dir: Path, tmp_path: Path, kafka_bootstrap: str, registry: str
) -> None:
    prefix = new_prefix()
    topic = prefix + TENURE_TOPIC
    _, truth = produce(kafka_bootstrap, registry, prefix, events=3000, poison=8)
    # an unkilled run over the topic, in another project and group, counts a batch's commits
    reference = init_project(tmp_path / "reference", departments=["housing"])
    path = write_source(reference, kafka_bootstrap, registry, topic, batch=80, idle=2)
    with path.open("a") as f:
        f.write("group_id: reference\n")
    Project.load(reference).store.close()
    [line] = _killer(reference, tmp_path / "reference-logs", "count")
    assert line.startswith("trial 0: exited (0)"), line
    commits = _faults.calls(tmp_path / "reference-logs" / "0.log")
    batch = _batch_commits(commits)  # raw, decoded, [rejected], current tables and history
    assert len(batch) >= 4, batch

    path = write_source(project_dir, kafka_bootstrap, registry, topic, batch=80, idle=2)
    with path.open("a") as f:  # a restarted consumer takes its predecessor's place at once
        f.write('consumer: {"group.instance.id": "crash-test", "session.timeout.ms": 6000}\n')
    Project.load(project_dir).store.close()  # the catalog exists before the first kill
    # each child resumes where the one before died and is killed at its own N-th commit:
    # before and after every commit of a batch (its recovery's commits come first)
    points = _faults.points(len(batch) + 1)
    lines = _killer(project_dir, tmp_path / "logs", ",".join(f"{w}:{n}" for w, n in points))
    assert lines == [f"trial {i}: killed {w} commit {n}" for i, (w, n) in enumerate(points)]
    project = Project.load(project_dir)
    kafka_source(project).consume("resume", LOG, threading.Event(), catch_up=True)
    _exactly_once(project, kafka_bootstrap, topic)
    live = truth.tenures(include_terminated=False)
    rows = query(project, "SELECT id, payment_reference FROM housing_refined.tenures")
    assert {r["id"]: r["payment_reference"] for r in rows} == {
        k: v["PaymentReference"] for k, v in live.items()
    }
    members = query(
        project, "SELECT tenure_id, person_id FROM housing_refined.tenure_household_members"
    )
    assert {(m["tenure_id"], m["person_id"]) for m in members} == expected_members(truth)
    versions = query(project, "SELECT count(*) AS n FROM housing_refined.tenures__history")
    assert versions[0]["n"] == sum(1 for e in truth.events.values() if "Tenure" in e)


@pytest.mark.slow
def test_broker_restart_mid_stream(project_dir: Path, kafka_bootstrap: str, registry: str) -> None:
    prefix = new_prefix()
    topic = prefix + TENURE_TOPIC
    produce(kafka_bootstrap, registry, prefix, events=800, poison=2)
    path = write_source(project_dir, kafka_bootstrap, registry, topic, batch=100, idle=3)
    with path.open("a") as f:  # notice the lost coordinator in seconds, not librdkafka's 45
        f.write('consumer: {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}\n')
    project = Project.load(project_dir)
    stop = threading.Event()
    batches: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            kafka_source(project).consume(
                "restart", LOG, stop, catch_up=False, on_batch=lambda o: batches.append(1)
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=consume)
    worker.start()
    deadline = time.monotonic() + 60
    while not batches and time.monotonic() < deadline:
        time.sleep(0.1)
    restart = subprocess.run(
        [str(ROOT / "scripts/services/kafka.sh"), "restart"], capture_output=True, text=True
    )
    assert restart.returncode == 0, restart.stderr
    produce(kafka_bootstrap, registry, prefix, events=300, seed=99, poison=0)
    highs_total = sum(_high_watermarks(kafka_bootstrap, topic).values())
    while time.monotonic() < deadline + 30:
        rows = project.store.stream_partitions("housing/tenure_events")
        if rows and sum(r["committed_offset"] for r in rows) >= highs_total:
            break
        time.sleep(0.5)
    stop.set()
    worker.join(60)
    assert not errors, errors
    kafka_source(project).consume("after", LOG, threading.Event(), catch_up=True)
    _exactly_once(project, kafka_bootstrap, topic)


@pytest.mark.slow
def test_rebalance_between_two_consumers(
    project_dir: Path, kafka_bootstrap: str, registry: str
) -> None:
    prefix = new_prefix()
    topic = prefix + TENURE_TOPIC
    produce(kafka_bootstrap, registry, prefix, events=1500, poison=3, partitions=4)
    path = write_source(project_dir, kafka_bootstrap, registry, topic, batch=100, idle=4)
    with path.open("a") as f:
        f.write('consumer: {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}\n')
    stop = threading.Event()
    counts: dict[str, int] = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def consume(name: str) -> None:
        try:
            project = Project.load(project_dir)
            kafka_source(project).consume(
                name,
                LOG,
                stop,
                catch_up=False,
                on_batch=lambda o: counts.__setitem__(name, counts[name] + o.rows_in),
            )
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=consume, args=("a",))
    first.start()
    deadline = time.monotonic() + 60
    while counts["a"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = threading.Thread(target=consume, args=("b",))  # joins: partitions move
    second.start()
    project = Project.load(project_dir)
    total = sum(_high_watermarks(kafka_bootstrap, topic, 4).values())
    while time.monotonic() < deadline + 60:
        rows = project.store.stream_partitions("housing/tenure_events")
        if len(rows) == 4 and sum(r["committed_offset"] for r in rows) >= total:
            break
        time.sleep(0.2)
    stop.set()
    first.join(60)
    second.join(60)
    assert not errors, errors
    assert counts["a"] > 0 and counts["b"] > 0  # both consumed part of the topic
    highs = _high_watermarks(kafka_bootstrap, topic, 4)
    expected = [(p, o) for p, high in highs.items() for o in range(high)]
    assert tenure_offsets(project) == expected
