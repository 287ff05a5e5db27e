"""Crashes, broker restarts and rebalances: every message lands exactly once."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from civiclake.project import Project
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


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(
    project_dir: Path, kafka_bootstrap: str, registry: str
) -> None:
    prefix = new_prefix()
    topic = prefix + TENURE_TOPIC
    _, truth = produce(kafka_bootstrap, registry, prefix, events=1500, poison=8)
    path = write_source(project_dir, kafka_bootstrap, registry, topic, batch=80, idle=2)
    with path.open("a") as f:  # a restarted consumer takes its predecessor's place at once
        f.write('consumer: {"group.instance.id": "crash-test", "session.timeout.ms": 6000}\n')
    Project.load(project_dir).store.close()  # the catalog exists before the first kill
    trials = 20
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("_killer.py")),
            str(project_dir),
            str(trials),
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("killed after") == trials
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
                on_batch=lambda o: counts.__setitem__(name, counts[name] + o.messages),
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
