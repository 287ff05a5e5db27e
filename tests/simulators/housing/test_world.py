"""The housing simulator: seeded events, deliveries with faults, and its ground truth."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from civiclake.simulators.housing import (
    ADDED_FIELD,
    CONTACT_TOPIC,
    TENURE_TOPIC,
    Encoder,
    HousingWorld,
    deliveries,
    to_folder,
)
from civiclake.simulators.registry import SchemaRegistry


def test_same_seed_same_events() -> None:
    a = HousingWorld(3).events(300)
    b = HousingWorld(3).events(300)
    assert a == b
    assert a != HousingWorld(4).events(300)


def test_events_have_the_envelope_and_unix_dates() -> None:
    events = HousingWorld(1).events(500)
    types = {e["EventType"] for e in events}
    assert {"TenureCreatedEvent", "TenureUpdatedEvent", "ContactDetailAddedEvent"} <= types
    tenure = next(e for e in events if "Tenure" in e)
    assert set(tenure) >= {"Id", "EventType", "SourceDomain", "SourceSystem", "Version"}
    assert isinstance(tenure["DateTime"], int) and tenure["DateTime"] > 1_700_000_000
    times = [e["DateTime"] for e in events]
    assert times == sorted(times) and len(set(times)) == len(times)
    terminated = [e for e in events if "Tenure" in e and e["Tenure"]["Terminated"]["IsTerminated"]]
    assert terminated and all(not e["Tenure"]["IsActive"] for e in terminated)


def test_deliveries_add_faults_and_keep_truth() -> None:
    events = HousingWorld(5).events(1000)
    sent, truth = deliveries(events, seed=5, poison=4)
    good = [d for d in sent if d.event is not None]
    assert len([d for d in sent if d.event is None]) == 4
    assert len(good) > len(truth.events) == 1000  # re-deliveries
    ids = [d.event["Id"] for d in good if d.event]
    assert len(set(ids)) == 1000
    order = [events.index(truth.events[i]) for i in dict.fromkeys(ids)]
    assert order != sorted(order)  # some delivered late
    assert {d.schema_version for d in good if d.topic == TENURE_TOPIC} == {1, 2}
    assert any(ADDED_FIELD in e.get("Tenure", {}) for e in truth.events.values())
    latest = truth.tenures()
    assert latest and len(truth.tenures(include_terminated=False)) < len(latest)
    assert truth.latest(CONTACT_TOPIC)


def test_avro_values_are_confluent_framed() -> None:
    import fastavro

    sent, _ = deliveries(HousingWorld(2).events(50), seed=2, poison=0)
    with SchemaRegistry().start() as registry:
        encoder = Encoder("avro", registry.url)
        value = encoder.encode(sent[0])
        assert value[0] == 0
        schema_id = int.from_bytes(value[1:5], "big")
        from civiclake.ingest.streams.schema_registry import RegistryClient

        schema = RegistryClient(registry.url).schema(schema_id)
        decoded = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
        assert decoded == sent[0].event


def test_folder_files_appear_complete(tmp_path: Path) -> None:
    sent, truth = deliveries(HousingWorld(9).events(250), seed=9, poison=2)
    files = to_folder(sent, tmp_path, Encoder("json"), per_file=40)
    assert not list(tmp_path.rglob(".*"))  # no temporary names left
    lines = [line for f in files for line in f.read_bytes().split(b"\n")[:-1]]
    assert len(lines) == len(sent)
    parsed = []
    for line in lines:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            parsed.append(json.loads(line)["Id"])
    assert set(parsed) == set(truth.events)
    avro = to_folder(sent, tmp_path / "avro", Encoder("avro"), per_file=40)
    assert {p.parent.name for p in avro} == {TENURE_TOPIC, CONTACT_TOPIC}


def test_publishes_to_a_real_broker(kafka_bootstrap: str) -> None:
    import uuid

    from confluent_kafka import Consumer, TopicPartition

    from civiclake.simulators.housing.run import publish

    prefix = f"sim{uuid.uuid4().hex[:8]}_"
    with SchemaRegistry().start() as registry:
        sent, truth = publish(
            events=300,
            seed=4,
            bootstrap=kafka_bootstrap,
            registry=registry.url,
            topic_prefix=prefix,
            partitions=2,
        )
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": prefix})
    total = 0
    for topic in (TENURE_TOPIC, CONTACT_TOPIC):
        for p in range(2):
            low, high = consumer.get_watermark_offsets(TopicPartition(prefix + topic, p), 10)
            total += high - low
    consumer.close()
    assert total == sent > len(truth.events)


def test_simulate_housing_events_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from civiclake.cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "housing-events",
            "--events",
            "120",
            "--format",
            "json",
            "--folder",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "files sent" in result.output
    assert list((tmp_path / TENURE_TOPIC).glob("*.ndjson"))
    avro = CliRunner().invoke(app, ["simulate", "housing-events", "--folder", str(tmp_path)])
    assert avro.exit_code == 0, avro.output  # Avro files carry their schema: no registry needed
