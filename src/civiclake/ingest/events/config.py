"""Settings of an ``events`` source (``sources/<department>/<name>.yaml``)::

    type: events
    format: json                      # NDJSON/JSON; .avro files are always read as Avro
    value_schema: schemas/tenure_event.avsc
    folder: null                      # default: the landing inbox landing/<dept>/<source>/
    current: {...}                    # see civiclake.ingest.streams.config

Each file is one batch, loaded exactly once (recognised by its content's
hash, whatever its name), and only when complete: hidden and temporary names
(``.x.tmp``, ``*.part``) are skipped, as are files modified in the last
``min_file_age_seconds`` or while being read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from civiclake.ingest.config import SourceConfig
from civiclake.ingest.streams.config import StreamSettings


class EventsSourceConfig(SourceConfig, StreamSettings):
    """Event files (NDJSON, JSON, Avro object container files) dropped in a folder."""

    type: Literal["events"] = "events"
    folder: str | None = None
    """A folder to read instead of the landing inbox (relative to the project); files there
    are copied to landing, not moved."""
    patterns: list[str] = Field(
        default_factory=lambda: ["*.ndjson", "*.jsonl", "*.json", "*.avro"], min_length=1
    )
    min_file_age_seconds: float = Field(default=2, ge=0)

    def _needs_registry(self) -> bool:
        return False  # Avro files carry their schema


__all__ = ["EventsSourceConfig"]
