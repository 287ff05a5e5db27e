"""The kafka source against a real broker: events → raw, decoded, rejected, current, history."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from civiclake import Project
from civiclake.simulators.housing import ADDED_FIELD, TENURE_TOPIC

from ._support import (
    expected_members,
    kafka_source,
    new_prefix,
    produce,
    query,
    tenure_offsets,
    write_source,
)

LOG = logging.getLogger("test")


def _high_watermarks(bootstrap: str, topic: str, partitions: int = 3) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def test_events_to_tables_end_to_end(
    project_dir: Path, kafka_bootstrap: str, registry: str
) -> None:
    prefix = new_prefix()
    topic = prefix + TENURE_TOPIC
    _, truth = produce(kafka_bootstrap, registry, prefix, poison=6)
    write_source(project_dir, kafka_bootstrap, registry, topic)
    project = Project.load(project_dir)
    source = kafka_source(project)
    result = source.consume("test-import", LOG, threading.Event(), catch_up=True)

    highs = _high_watermarks(kafka_bootstrap, topic)
    offsets = tenure_offsets(project)
    expected = [(p, o) for p, high in highs.items() for o in range(high)]
    assert offsets == expected  # every message once, with its offsets
    rejected = query(project, "SELECT * FROM housing_raw.tenure_events__rejected")
    decoded = query(project, "SELECT count(*) AS n FROM housing_refined.tenure_events")[0]["n"]
    assert decoded + len(rejected) == len(expected) == result.rows_in
    assert all(r["_reject_reason"] and r["value"] is not None for r in rejected)
    assert {(r["_partition"], r["_offset"]) for r in rejected} <= set(expected)

    tenures = query(
        project,
        "SELECT id, payment_reference, charges_rent, tenure_type_code FROM housing_refined.tenures",
    )
    live = truth.tenures(include_terminated=False)
    assert {t["id"] for t in tenures} == set(live)
    for row in tenures:
        want = live[row["id"]]
        assert row["payment_reference"] == want["PaymentReference"]
        assert row["charges_rent"] == (want["Charges"] or {}).get("Rent")
    members = query(
        project, "SELECT tenure_id, person_id FROM housing_refined.tenure_household_members"
    )
    assert {(m["tenure_id"], m["person_id"]) for m in members} == expected_members(truth)

    # history: every distinct tenure event is a version, re-deliveries are not
    versions = query(project, "SELECT count(*) AS n FROM housing_refined.tenures__history")
    distinct = sum(1 for e in truth.events.values() if "Tenure" in e)
    assert versions[0]["n"] == distinct

    # schema change mid-stream: the added optional field is a column, NULL before it
    added = query(
        project,
        "SELECT count(*) AS n, count(tenure_inform_housing_benefits_for_changes) AS set_ "
        "FROM housing_refined.tenure_events",
    )[0]
    assert 0 < added["set_"] < added["n"]
    assert ADDED_FIELD  # the simulator's name for it

    # progress per partition, in the catalog
    progress = {r["partition"]: r for r in project.store.stream_partitions("housing/tenure_events")}
    assert {p: r["committed_offset"] for p, r in progress.items()} == highs
    assert all(r["lag"] == 0 for r in progress.values())


def test_a_second_run_reads_nothing_twice(
    project_dir: Path, kafka_bootstrap: str, registry: str
) -> None:
    prefix = new_prefix()
    topic = prefix + TENURE_TOPIC
    produce(kafka_bootstrap, registry, prefix, events=200, poison=0)
    write_source(project_dir, kafka_bootstrap, registry, topic, idle=1)
    project = Project.load(project_dir)
    first = kafka_source(project).consume("a", LOG, threading.Event(), catch_up=True)
    again = kafka_source(project).consume("b", LOG, threading.Event(), catch_up=True)
    assert first.rows_in > 0 and again.rows_in == 0
    produce(kafka_bootstrap, registry, prefix, events=100, seed=12, poison=0)
    more = kafka_source(project).consume("c", LOG, threading.Event(), catch_up=True)
    highs = _high_watermarks(kafka_bootstrap, topic)
    assert first.rows_in + more.rows_in == sum(highs.values())
    assert len(tenure_offsets(project)) == sum(highs.values())
