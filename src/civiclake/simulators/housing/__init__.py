"""A simulated housing application ("Manage My Home"-style) publishing change events.

* :class:`HousingWorld` (:mod:`.world`) — seeded tenures, households and contact
  details changing over time, with the ground truth kept (:class:`Truth`);
  :func:`deliveries` adds what brokers do: re-deliveries, late events, poison
  messages, a schema change mid-stream;
* :mod:`.schemas` — the events' Avro schemas (source-systems.md §2);
* :mod:`.publish` — Avro in the Confluent wire format (with the schema
  registry of :mod:`civiclake.simulators.registry`) or JSON, to a Kafka topic
  or as files into a landing folder;
* ``civiclake simulate housing-events`` runs it from the command line.
"""

from __future__ import annotations

from civiclake.simulators.housing.publish import Encoder, ensure_topics, to_folder, to_kafka
from civiclake.simulators.housing.schemas import (
    ADDED_FIELD,
    CONTACT_TOPIC,
    CONTACT_V1,
    TENURE_TOPIC,
    TENURE_V1,
    TENURE_V2,
)
from civiclake.simulators.housing.world import Delivery, HousingWorld, Truth, deliveries

__all__ = [
    "ADDED_FIELD",
    "CONTACT_TOPIC",
    "CONTACT_V1",
    "TENURE_TOPIC",
    "TENURE_V1",
    "TENURE_V2",
    "Delivery",
    "Encoder",
    "HousingWorld",
    "Truth",
    "deliveries",
    "ensure_topics",
    "to_folder",
    "to_kafka",
]
