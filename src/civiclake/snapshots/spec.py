"""A history table's spec (key, version column, delete rule), its result and errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from civiclake.exceptions import CivicLakeError

if TYPE_CHECKING:
    from collections.abc import Callable

    FileRelation = Callable[[Sequence["DataFile"]], str]
    """A tier's files as a SQL relation (``read_parquet`` unless a session says otherwise)."""

    from civiclake.storage.delta import DataFile


SPEC_METADATA = b"civiclake.snapshots"
"""Field metadata on ``_seq`` holding the spec, so any reader can rebuild the views."""
REJECTED_SUFFIX = "__rejected"
_SEQ_SHIFT = 1 << 32
_MAX_RECENT_FILES = 60
_WIDENINGS = {
    ("int32", "int64"),
    ("int64", "double"),
    ("int32", "double"),
    ("float", "double"),
    ("date32[day]", "timestamp[us]"),
}


def naive_utc(moment: datetime) -> datetime:
    """A time as valid and recorded times are compared: UTC without a zone (TIMESTAMP)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class HistoryError(CivicLakeError):
    """A history table cannot take an increment as given."""


Mode = Literal["events", "observed"]
DeleteMode = Literal["invalidate", "new_record", "ignore"]


@dataclass(frozen=True)
class HistorySpec:
    """How a keyed dataset's versions are identified, ordered and deleted.

    Two kinds of increment (``mode``):

    ``events``
        each row *is* a version, dated by ``version`` (an event stream, the planning
        API's changes): late rows slot in at their time, re-deliveries are dropped;
    ``observed``
        each row is the source's *current state* of its key, seen at the observation
        time (a database sync, a spreadsheet export): a row becomes a version only if
        its tracked values changed, dated by ``version`` when that moved forward and
        by the observation time otherwise; a key deleted and sent again is a revival;
        with a full observation, keys absent from it are deleted as of it.
    """

    key: tuple[str, ...]
    version: str | None
    """Column dating a version (e.g. ``last_updated``); ``valid_from`` when trusted.
    Required in ``events`` mode; in ``observed`` mode, None dates by observation time."""
    deleted: str | None = None
    """DuckDB SQL boolean over a record's columns marking it a delete (e.g. ``ceased``)."""
    compact_ratio: float = 0.25
    """Compact when ``recent`` holds more rows than this share of ``base``."""
    mode: Mode = "events"
    track: tuple[str, ...] | None = None
    """``observed`` mode: the columns compared (null-safe) to spot a change; None: all."""
    deletes: DeleteMode = "invalidate"
    """``invalidate``: a delete ends the last version (``x__history`` shows no row for it);
    ``new_record``: ``x__history`` also shows the delete as a row with ``is_deleted``;
    ``ignore``: deletes are not recorded (latest keeps the record)."""
    refresh: tuple[str, ...] = ()
    """``observed`` mode: lineage columns of the latest version brought up to date in
    place when only they differ (a database row's hash after a column was added)."""

    def to_json(self) -> str:
        """What readers need (the compaction ratio is the writer's business)."""
        return json.dumps(
            {
                "key": list(self.key),
                "version": self.version,
                "deleted": self.deleted,
                "mode": self.mode,
                "deletes": self.deletes,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> HistorySpec:
        data = json.loads(text)
        return cls(
            key=tuple(data["key"]),
            version=data["version"],
            deleted=data.get("deleted"),
            mode=data.get("mode", "events"),
            deletes=data.get("deletes", "invalidate"),
        )


@dataclass(frozen=True)
class HistoryResult:
    versions: int
    """Versions added to history (after dropping re-deliveries)."""
    duplicates: int
    """Rows dropped as re-deliveries of a version already held."""
    deletes: int
    """Versions that delete their key."""
    bytes_written: int
    compacted: bool
    already_applied: bool
    rejected: int = 0
    notes: list[str] = field(default_factory=list)
    unchanged: int = 0
    """``observed`` mode: rows whose tracked values equal the version already held."""
    rows_in: int = 0
    """Rows the increment held (rejected ones included)."""
