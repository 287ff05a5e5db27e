"""Send the housing world's deliveries to Kafka, or drop them as files in a landing folder.

Values are Avro in the Confluent wire format (the schema registered under
``{topic}-value``, see :mod:`civiclake.simulators.registry`) or JSON; message
keys are the entity id (tenure id, contact target id), so one entity's events
stay in one partition. Poison deliveries are sent as their raw bytes.

Files (the "bucket instead of Kafka" option) are NDJSON (one event a line) or
Avro object container files (``.avro``); each is written under a hidden
temporary name and renamed when complete, so a reader never sees half a file.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from civiclake.simulators import SimulatorError
from civiclake.simulators.housing.schemas import (
    CONTACT_TOPIC,
    CONTACT_V1,
    TENURE_TOPIC,
    TENURE_V1,
    TENURE_V2,
)
from civiclake.simulators.housing.world import Delivery

Format = Literal["avro", "json"]
SCHEMAS = {
    (TENURE_TOPIC, 1): TENURE_V1,
    (TENURE_TOPIC, 2): TENURE_V2,
    (CONTACT_TOPIC, 1): CONTACT_V1,
}


@dataclass
class Encoder:
    """Encodes deliveries as message values: Confluent-framed Avro or JSON."""

    format: Format = "avro"
    registry_url: str | None = None
    _ids: dict[tuple[str, int], int] = field(default_factory=dict)
    _parsed: dict[tuple[str, int], Any] = field(default_factory=dict)

    def schema_id(self, topic: str, version: int) -> int:
        """Register the topic's schema version under ``{topic}-value`` (once)."""
        from civiclake.ingest.streams.schema_registry import RegistryClient

        if (topic, version) not in self._ids:
            if not self.registry_url:
                raise SimulatorError(
                    "Avro messages to Kafka need a schema registry: pass its URL (--registry), "
                    "e.g. one started by `civiclake simulate schema-registry`"
                )
            client = RegistryClient(self.registry_url)
            self._ids[(topic, version)] = client.register(
                f"{topic}-value", SCHEMAS[(topic, version)]
            )
        return self._ids[(topic, version)]

    def encode(self, delivery: Delivery) -> bytes:
        if delivery.event is None:
            return delivery.poison
        if self.format == "json":
            return json.dumps(delivery.event, separators=(",", ":")).encode()
        from civiclake.ingest.streams.wire import fastavro, frame

        key = (delivery.topic, delivery.schema_version)
        schema_id = self.schema_id(*key)
        if key not in self._parsed:
            self._parsed[key] = fastavro().parse_schema(SCHEMAS[key])
        out = io.BytesIO()
        fastavro().schemaless_writer(out, self._parsed[key], delivery.event)
        return frame(schema_id, out.getvalue())


def ensure_topics(bootstrap: str, topics: Sequence[str], partitions: int = 3) -> None:
    """Create the topics (``partitions`` each) when they do not exist yet."""
    from civiclake.ingest.streams.wire import kafka

    kafka()  # names the extra when confluent-kafka is missing
    import confluent_kafka.admin as admin_module

    admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    new = [
        admin_module.NewTopic(t, num_partitions=partitions, replication_factor=1)
        for t in topics
        if t not in existing
    ]
    if not new:
        return
    for topic, future in admin.create_topics(new).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise SimulatorError(f"could not create topic {topic}: {exc}") from exc


def to_kafka(
    deliveries: Iterable[Delivery],
    bootstrap: str,
    encoder: Encoder,
    *,
    topic_prefix: str = "",
    partitions: int = 3,
) -> int:
    """Produce every delivery to ``{topic_prefix}{topic}``; the count sent (after flush)."""
    from civiclake.ingest.streams.wire import kafka

    ensure_topics(bootstrap, [topic_prefix + t for t in (TENURE_TOPIC, CONTACT_TOPIC)], partitions)
    producer = kafka().Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "queue.buffering.max.messages": 500_000,
        }
    )
    failures: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    sent = 0
    for delivery in deliveries:
        value = encoder.encode(delivery)
        key = delivery.key.encode() if delivery.key else None
        while True:
            try:
                producer.produce(topic_prefix + delivery.topic, value, key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        raise SimulatorError(
            f"{left} message(s) not delivered to {bootstrap}; first errors: {failures[:3]}"
        )
    return sent


def to_folder(
    deliveries: Sequence[Delivery],
    folder: Path,
    encoder: Encoder,
    *,
    per_file: int = 100,
    prefix: str = "events",
) -> list[Path]:
    """Write each topic's deliveries as files of ``per_file`` events in ``folder/<topic>/``,
    each appearing complete (renamed from a hidden temporary name).

    JSON: NDJSON files, a poison delivery is a line of its bytes. Avro: object
    container files; a poison delivery becomes a file of its own bytes (a file
    that is not Avro).
    """
    written: list[Path] = []
    for topic in (TENURE_TOPIC, CONTACT_TOPIC):
        mine = [d for d in deliveries if d.topic == topic]
        target = folder / topic
        target.mkdir(parents=True, exist_ok=True)
        start = len(list(target.glob(f"{prefix}-*")))
        chunks = [mine[i : i + per_file] for i in range(0, len(mine), per_file)]
        for n, chunk in enumerate(chunks, start=start + 1):
            if encoder.format == "json":
                body = b"".join(encoder.encode(d).replace(b"\n", b" ") + b"\n" for d in chunk)
                written.append(_publish(target, f"{prefix}-{n:06d}.ndjson", body))
                continue
            good = [d for d in chunk if d.event is not None]
            if good:
                written.append(_publish(target, f"{prefix}-{n:06d}.avro", _container(topic, good)))
            for m, bad in enumerate(d for d in chunk if d.event is None):
                written.append(_publish(target, f"{prefix}-{n:06d}-{m}.avro", bad.poison))
    return written


def _container(topic: str, deliveries: Sequence[Delivery]) -> bytes:
    """An Avro object container file, written with the newest schema version in the chunk."""
    from civiclake.ingest.streams.wire import fastavro

    version = max(d.schema_version for d in deliveries)
    out = io.BytesIO()
    avro = fastavro()
    avro.writer(out, avro.parse_schema(SCHEMAS[(topic, version)]), [d.event for d in deliveries])
    return out.getvalue()


def _publish(folder: Path, name: str, body: bytes) -> Path:
    """Write under a hidden temporary name, then rename: readers see whole files only."""
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(body)
    final = folder / name
    os.replace(tmp, final)
    return final


__all__ = ["SCHEMAS", "Encoder", "Format", "ensure_topics", "to_folder", "to_kafka"]
