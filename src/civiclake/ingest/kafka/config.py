"""Settings of a ``kafka`` source (``sources/<department>/<name>.yaml``)::

    type: kafka
    bootstrap_servers: ${HOUSING_KAFKA}      # host:port[,host:port]
    topic: tenure_api
    format: avro
    schema_registry: http://127.0.0.1:8081
    batch_max_messages: 50000
    batch_max_seconds: 5
    current: {...}                           # see civiclake.ingest.streams.config

The decoding and current-state settings are those of every stream source
(:class:`~civiclake.ingest.streams.config.StreamSettings`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from civiclake.config.secrets import Secret
from civiclake.ingest.config import SourceConfig
from civiclake.ingest.streams.config import StreamSettings


class KafkaSourceConfig(SourceConfig, StreamSettings):
    """One Kafka topic, read by a consumer group in micro-batches."""

    type: Literal["kafka"] = "kafka"
    bootstrap_servers: Secret
    """``host:port`` list; a ``${VAR}`` reference keeps it out of the file."""
    topic: str = Field(min_length=1)
    group_id: str | None = None
    """The consumer group; default ``civiclake.<department>.<source>``."""
    batch_max_messages: int = Field(default=50_000, ge=1)
    """A micro-batch ends at this many messages (it bounds memory: ~10 KB per 1 KB
    message at peak)…"""
    batch_max_seconds: float = Field(default=5.0, gt=0)
    """…or after this long, whichever comes first."""
    idle_seconds: float = Field(default=3.0, gt=0)
    """In a catch-up run (``civiclake run``), stop once every partition is read up to its
    end, or nothing arrived for this long."""
    consumer: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra librdkafka consumer settings (``security.protocol``, ``sasl.*``…)."""


__all__ = ["KafkaSourceConfig"]
