"""Settings every event-stream source shares (``kafka`` and ``events``)::

    format: avro                       # or json
    schema_registry: http://127.0.0.1:8081
    dataset: tenure_events             # <dept>_raw.tenure_events, <dept>_refined.tenure_events
    current:
      tenures:                         # <dept>_refined.tenures (+ __history, _as_of)
        prefix: tenure_                # decoded columns tenure_* become the table's columns
        key: [id]
        deleted: terminated_is_terminated
        on_delete: flag                # flag: keep terminated tenures (the column says so); remove
        children:
          tenure_household_members:    # keyed by (tenure_id, person_id)
            field: household_members
            parent_key: tenure_id
            rename: {id: person_id}
            key: [person_id]

Each event becomes one row of the decoded table: the envelope and the payload
flattened (``tenure_tenured_asset_uprn``), lists kept as lists, Unix-second
dates as timestamps (see :mod:`civiclake.ingest.streams.typing`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from civiclake.config.models import Model
from civiclake.ingest.config import check_dataset_name
from civiclake.naming import is_identifier

Format = Literal["avro", "json"]
OnDelete = Literal["flag", "remove"]


class ChildTable(Model):
    """A list column of a current table, kept as its own keyed table."""

    field: str
    """The list column (after the parent's ``prefix`` is removed), e.g. ``household_members``."""
    parent_key: str
    """The child table's column holding the parent's key, e.g. ``tenure_id``."""
    key: list[str] = Field(min_length=1)
    """The child's own key within its parent (after ``rename``), e.g. ``[person_id]``."""
    rename: dict[str, str] = Field(default_factory=dict)


class CurrentTable(Model):
    """A current-state table (with history and as-of) built from the decoded events."""

    prefix: str = ""
    """Decoded columns starting with this become the table's columns, without it."""
    key: list[str] = Field(min_length=1)
    version: str = "date_time"
    """The decoded column ordering an entity's versions (the event's time); stored as
    ``event_time``."""
    event_columns: dict[str, str] = Field(
        default_factory=lambda: {"id": "event_id", "event_type": "event_type"}
    )
    """Envelope columns carried into the table, and their names there."""
    deleted: str | None = None
    """DuckDB SQL boolean over the table's columns marking the entity ended."""
    on_delete: OnDelete = "flag"
    """``flag``: ended entities stay in the latest table (``deleted`` says so); ``remove``:
    they leave it (their history stays)."""
    children: dict[str, ChildTable] = Field(default_factory=dict)

    @field_validator("children")
    @classmethod
    def _names(cls, value: dict[str, ChildTable]) -> dict[str, ChildTable]:
        for name in value:
            check_dataset_name(name)
        return value


class StreamSettings(Model):
    """How an event stream's messages are decoded and what tables they feed."""

    format: Format = "avro"
    schema_registry: str | None = None
    """A Confluent-compatible schema registry's URL (Avro needs it; JSON may use it)."""
    value_schema: str | None = None
    """An Avro schema file (``.avsc``, relative to the project) typing JSON messages."""
    subject: str | None = None
    """The registry subject of JSON messages' schema (default ``{topic}-value``)."""
    dataset: str | None = None
    """Name of the raw and decoded datasets; defaults to the source's name."""
    timestamps: list[str] | None = None
    """Integer fields (snake_case names) holding Unix seconds; default: every one whose
    name contains ``date``."""
    current: dict[str, CurrentTable] = Field(default_factory=dict)

    @field_validator("dataset")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return check_dataset_name(value)

    @field_validator("current")
    @classmethod
    def _current_names(cls, value: dict[str, CurrentTable]) -> dict[str, CurrentTable]:
        for name in value:
            if not is_identifier(name):
                raise ValueError(f"`{name}` is not a usable dataset name (lowercase SQL name)")
        return value

    @model_validator(mode="after")
    def _schema_source(self) -> StreamSettings:
        if self.format == "avro" and not self.schema_registry and self._needs_registry():
            raise ValueError("format avro needs `schema_registry` (the registry's URL)")
        return self

    def _needs_registry(self) -> bool:
        return True


__all__ = ["ChildTable", "CurrentTable", "Format", "OnDelete", "StreamSettings"]
