"""What ``civiclake simulate housing-events`` does, callable from tests and the demo."""

from __future__ import annotations

from pathlib import Path

from civiclake.simulators import SimulatorError
from civiclake.simulators.housing.publish import Encoder, Format, to_folder, to_kafka
from civiclake.simulators.housing.world import HousingWorld, Truth, deliveries


def publish(
    *,
    events: int,
    seed: int = 7,
    format: Format = "avro",
    bootstrap: str | None = None,
    folder: Path | None = None,
    registry: str | None = None,
    topic_prefix: str = "",
    partitions: int = 3,
    per_file: int = 100,
    poison: int = 3,
    schema_change_at: float | None = 0.5,
) -> tuple[int, Truth]:
    """Play ``events`` events of a seeded world and send them (Kafka or a folder).

    Returns the number of messages (or files) sent and the ground truth.
    """
    if (bootstrap is None) == (folder is None):
        raise SimulatorError("send the events to Kafka (--bootstrap) or to a folder (--folder)")
    world = HousingWorld(seed)
    sent, truth = deliveries(
        world.events(events), seed=seed, poison=poison, schema_change_at=schema_change_at
    )
    encoder = Encoder(format, registry)
    if bootstrap is not None:
        count = to_kafka(sent, bootstrap, encoder, topic_prefix=topic_prefix, partitions=partitions)
        return count, truth
    assert folder is not None
    return len(to_folder(sent, folder, encoder, per_file=per_file)), truth


__all__ = ["publish"]
