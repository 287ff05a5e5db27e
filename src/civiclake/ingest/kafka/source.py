"""The ``kafka`` source: one topic, consumed by a consumer group, exactly once into Delta.

``civiclake run`` reads the topic up to its end (a catch-up batch) and stops;
``civiclake stream <dept>/<source>`` keeps consuming until SIGTERM or Ctrl-C,
then commits the batch in flight and leaves the group. Either way a micro-batch
is committed with its offsets (see :mod:`.consumer`), so runs and streams can
alternate, crash, or run as two consumers of one group.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.ingest.base import Source
from civiclake.ingest.kafka.config import KafkaSourceConfig
from civiclake.steps import SourceCapabilities

if TYPE_CHECKING:
    import logging

    from civiclake.ingest.streams.decode import Decoder
    from civiclake.ingest.streams.sink import EventSink
    from civiclake.steps import Counts, RunContext
    from civiclake.storage import DatasetRef


class KafkaSource(Source[KafkaSourceConfig]):
    """A Kafka topic's events: raw messages, decoded events, current-state tables."""

    type = "kafka"
    config_model = KafkaSourceConfig
    capabilities = SourceCapabilities(stream=True)

    @property
    def outputs(self) -> list[DatasetRef]:
        return self.sink().outputs

    def sink(self) -> EventSink:
        from civiclake.ingest.streams.sink import EventSink

        return EventSink(self, self.config, self.decoder())

    def decoder(self) -> Decoder:
        from civiclake.ingest.streams.decode import Decoder
        from civiclake.ingest.streams.schema_registry import RegistryClient

        cfg = self.config
        registry = RegistryClient(cfg.schema_registry) if cfg.schema_registry else None
        value_schema = None
        if cfg.value_schema:
            import json

            path = Path(cfg.value_schema)
            value_schema = json.loads((self.project.dir / path).read_text())
        elif cfg.format == "json" and registry is not None:
            subject = cfg.subject or f"{cfg.topic}-value"
            value_schema = registry.latest_json(subject)
        timestamps = None
        if cfg.timestamps is not None:
            names = set(cfg.timestamps)
            timestamps = names.__contains__
        kwargs: dict[str, Any] = {"timestamps": timestamps} if timestamps else {}
        return Decoder(cfg.format, registry=registry, value_schema=value_schema, **kwargs)

    def run(self, ctx: RunContext) -> Counts:
        """Catch up: consume until every partition is read to its end, then stop."""
        return self.consume(ctx.import_id, ctx.log, threading.Event(), catch_up=True)

    def stream(
        self,
        ctx: RunContext,
        stop: threading.Event,
        *,
        catch_up: bool,
        poll: float,
        on_batch: Callable[[Counts], None],
    ) -> Counts:
        """Consume until ``stop``; the consumer waits on the broker, so ``poll`` is unused."""
        return self.consume(ctx.import_id, ctx.log, stop, catch_up=catch_up, on_batch=on_batch)

    def consume(
        self,
        import_id: str,
        log: logging.Logger,
        stop: threading.Event,
        *,
        catch_up: bool,
        on_batch: Callable[[Counts], None] | None = None,
    ) -> Counts:
        from civiclake.ingest.kafka.consumer import StreamConsumer
        from civiclake.steps import Counts

        consumer = StreamConsumer(
            self, self.sink(), import_id=import_id, log=log, on_batch=on_batch
        )
        total = consumer.run(stop, catch_up=catch_up)
        result = Counts(
            rows_in=total.rows_in,
            rows_out=total.rows_out,
            rows_rejected=total.rows_rejected,
            bytes_written=total.bytes_written,
            versions=total.versions,
            duplicates=total.duplicates,
            notes=list(total.notes),
        )
        result.notes.insert(
            0,
            f"{total.rows_in} message(s), {total.rows_out} decoded, {total.versions} new "
            f"version(s) in current tables"
            + (f", {total.duplicates} re-delivered" if total.duplicates else ""),
        )
        return result


__all__ = ["KafkaSource"]
