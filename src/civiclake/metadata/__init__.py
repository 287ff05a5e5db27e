"""The metadata store (SQLite by default, any SQLAlchemy URL; Alembic migrations)."""

from civiclake.metadata.store import (
    ColumnLineageRecord,
    LineageEdge,
    MetadataStore,
    PiiClearance,
    RunRecord,
    StepRecord,
)

__all__ = [
    "ColumnLineageRecord",
    "LineageEdge",
    "MetadataStore",
    "PiiClearance",
    "RunRecord",
    "StepRecord",
]
