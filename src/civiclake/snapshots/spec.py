"""A history table's spec (key, version column, delete rule), its result and errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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


class HistoryError(CivicLakeError):
    """A history table cannot take an increment as given."""


@dataclass(frozen=True)
class HistorySpec:
    """How a keyed dataset's versions are identified, ordered and deleted."""

    key: tuple[str, ...]
    version: str
    """Column ordering the versions of one key (e.g. ``last_updated``); becomes ``valid_from``."""
    deleted: str | None = None
    """DuckDB SQL boolean over a record's columns marking it a delete (e.g. ``ceased``)."""
    compact_ratio: float = 0.25
    """Compact when ``recent`` holds more rows than this share of ``base``."""

    def to_json(self) -> str:
        """What readers need (the compaction ratio is the writer's business)."""
        return json.dumps({"key": list(self.key), "version": self.version, "deleted": self.deleted})

    @classmethod
    def from_json(cls, text: str | bytes) -> HistorySpec:
        data = json.loads(text)
        return cls(
            key=tuple(data["key"]),
            version=data["version"],
            deleted=data.get("deleted"),
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
