"""The Confluent wire format and the optional libraries streams need.

A Confluent-framed Avro message is one magic byte ``0``, the writer schema's
registry id as a 4-byte big-endian integer, then the Avro binary encoding of
the record (no container, no schema).
"""

from __future__ import annotations

import struct
from types import ModuleType

from civiclake.exceptions import MissingDependencyError

MAGIC = 0
HEADER = struct.Struct(">bI")


def frame(schema_id: int, payload: bytes) -> bytes:
    """``payload`` (Avro binary) framed with its writer schema's id."""
    return HEADER.pack(MAGIC, schema_id) + payload


def kafka() -> ModuleType:
    """``confluent_kafka``, or an error naming the extra that installs it."""
    try:
        import confluent_kafka
    except ImportError:
        raise MissingDependencyError("confluent-kafka", "kafka") from None
    return confluent_kafka


def fastavro() -> ModuleType:
    """``fastavro``, or an error naming the extra that installs it."""
    try:
        import fastavro
    except ImportError:
        raise MissingDependencyError("fastavro", "kafka") from None
    return fastavro


__all__ = ["HEADER", "MAGIC", "fastavro", "frame", "kafka"]
