"""The metadata store (SQLite by default, any SQLAlchemy URL; Alembic migrations)."""

from civiclake.metadata.store import MetadataStore, RunRecord, StepRecord

__all__ = ["MetadataStore", "RunRecord", "StepRecord"]
