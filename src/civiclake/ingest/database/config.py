"""Settings of a ``database`` source (``sources/<department>/<name>.yaml``)::

    type: database
    url: postgresql://etl:${REPAIRS_DB_PASSWORD}@repairs-db/drs
    tables:
      work_orders: {key: [work_order_id]}
      appointments: {key: [work_order_id, appointment_no]}
      operatives: {key: [operative_id], cursor: null}   # small: re-read whole each sync
    overlap_minutes: 30
    reconcile_every_minutes: 60

Each key of ``tables`` is a table of the source database (``source_table`` when its name
there differs, e.g. ``dbo.WorkOrders``); it becomes the raw dataset of the same name, kept
as history by ``key``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from civiclake.config.secrets import Secret
from civiclake.ingest.config import HistoryOptions, SourceConfig, check_dataset_name
from civiclake.naming import is_identifier, snake_case


class DatabaseTable(HistoryOptions):
    """One table of the source database and how it is synced."""

    key: list[str] = Field(min_length=1)
    """Primary-key columns (a composite key lists several)."""
    cursor: str | None = "updated_at"
    """Timestamp column a change sets; ``null`` re-reads the whole table each sync."""
    overlap_minutes: int | None = Field(default=None, ge=0)
    """This table's overlap window; defaults to the source's ``overlap_minutes``."""
    source_table: str | None = None
    """The table's name in the source database (``schema.table`` allowed), if not the key."""
    dataset: str | None = None
    """The raw dataset's name; defaults to the table's key in ``tables``."""
    reconcile: bool = True
    """Compare this table with the source on the reconciliation schedule."""
    description: str = ""

    @field_validator("dataset")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return check_dataset_name(value)


class DatabaseConfig(SourceConfig):
    """Tables of a SQL database, synced incrementally and reconciled against the source."""

    type: Literal["database"] = "database"
    url: Secret
    """SQLAlchemy URL (postgresql://, mysql://, mssql://, sqlite:///…); put passwords in
    ``${ENV_VAR}`` references."""
    schedule: str | None = "*/15 * * * *"
    tables: dict[str, DatabaseTable] = Field(min_length=1)
    overlap_minutes: int = Field(default=30, ge=0)
    """Each sync re-reads rows whose cursor is up to this many minutes before the newest
    it saw: rows committed late by long transactions, or stamped by a server whose clock is
    behind, land there. Unchanged rows re-read are dropped by their row hash."""
    batch_rows: int = Field(default=50_000, ge=100)
    """Rows per Arrow batch read from the source (memory stays bounded by this)."""
    reconcile_every_minutes: int = Field(default=60, ge=0)
    """How often a sync also reconciles (0: every sync)."""
    reconcile_leaf_rows: int = Field(default=2_000, ge=10)
    """A reconciliation splits the key space into ranges of about this many rows (as far as
    the source's SQL allows in one pass) and compares the ranges that differ key by key
    (keys and hashes only)."""

    @field_validator("tables", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        """``key: id`` is accepted for ``key: [id]``."""
        if isinstance(value, dict):
            out = {}
            for name, table in value.items():
                if isinstance(table, dict) and isinstance(table.get("key"), str):
                    table = {**table, "key": [table["key"]]}
                out[name] = table
            return out
        return value

    @field_validator("tables")
    @classmethod
    def _names(cls, value: dict[str, DatabaseTable]) -> dict[str, DatabaseTable]:
        for name, table in value.items():
            if table.dataset is None and not is_identifier(name):
                raise ValueError(
                    f"table `{name}` is not a usable dataset name; set `dataset:` under it "
                    f"(e.g. `{snake_case(name)}`)"
                )
        return value


__all__ = ["DatabaseConfig", "DatabaseTable"]
