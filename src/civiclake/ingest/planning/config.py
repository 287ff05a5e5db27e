"""Settings of a ``planning_api`` source (``sources/<department>/<name>.yaml``)::

    type: planning_api
    url: https://planning.example.gov.uk/rest/v1
    public_key: ${PLANNING_API_PUBLIC_KEY}
    private_key: ${PLANNING_API_PRIVATE_KEY}
    tables:
      applications: {drop: [gis_map_image_base64], types: {site_address_x: DOUBLE}}
      wards: {}
    lookback_days: 60
    overlap_days: 2

Each key of ``tables`` is an API resource; it becomes the refined dataset of
the same name (or ``dataset``), kept as history by ``key`` and ``version``.
The connection settings (``concurrency``, ``timeout_seconds``, ``retries``…)
are those of every REST source (:class:`~civiclake.ingest.rest.RestSourceConfig`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from civiclake.config.models import Model
from civiclake.config.secrets import Secret
from civiclake.ingest.config import check_dataset_name
from civiclake.ingest.records import normalise_type
from civiclake.ingest.rest.config import RestSourceConfig
from civiclake.naming import is_identifier, snake_case

Nested = Literal["flatten", "struct"]

COMMON_TYPES = {
    "id": "BIGINT",
    "creation_user_id": "BIGINT",
    "last_updated_by": "BIGINT",
    "last_updated": "TIMESTAMP",
    "submit_date": "TIMESTAMP",
    "ceased_date": "TIMESTAMP",
    "ceased": "BOOLEAN",
}
"""Types of the columns every planning table has, so they are right from the first load
even when a first batch holds no value to infer from (``ceased_date`` on a new table);
``types:`` of a table overrides them."""


class PlanningTable(Model):
    """One resource of the planning API and how its records are kept."""

    key: list[str] = Field(default_factory=lambda: ["id"], min_length=1)
    version: str = "last_updated"
    """Column ordering one key's versions; records of the run's day or later wait for the
    next run (the day is not finished)."""
    deleted: str = "ceased"
    """DuckDB SQL boolean over a record marking it deleted (the API's only delete signal)."""
    drop: list[str] = Field(default_factory=list)
    """Fields not kept in the tables (they stay in the landing files)."""
    types: dict[str, str] = Field(default_factory=dict)
    """Type overrides by column (``DOUBLE``, ``DECIMAL(12,2)``, ``DATE``…); ``parent.field``
    for a field of a ``struct`` column. The table's type wins once the column exists."""
    nested: Nested = "flatten"
    """Nested objects: ``flatten`` into ``parent_child`` columns, or keep as ``struct``."""
    dataset: str | None = None
    """The refined dataset's name; defaults to the resource name."""

    @field_validator("types")
    @classmethod
    def _type_names(cls, value: dict[str, str]) -> dict[str, str]:
        """Checked now, with the allowed types and a suggestion, rather than mid-run."""
        return {column: normalise_type(name, column) for column, name in value.items()}

    @field_validator("dataset")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return check_dataset_name(value)


class PlanningApiConfig(RestSourceConfig):
    """A Tascomi-style planning system, pulled in daily increments by ``last_updated``."""

    type: Literal["planning_api"] = "planning_api"
    public_key: Secret
    private_key: Secret
    tables: dict[str, PlanningTable] = Field(min_length=1)
    lookback_days: int = Field(default=60, ge=1)
    """A run requests no day older than this many days before its business date."""
    overlap_days: int = Field(default=2, ge=0)
    """Each run that pulls new days also requests again the last day it pulled and this
    many days before it, where late updates land; history's de-duplication makes the
    repeat harmless."""

    @field_validator("tables", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @field_validator("tables")
    @classmethod
    def _resource_names(cls, value: dict[str, PlanningTable]) -> dict[str, PlanningTable]:
        for name, table in value.items():
            if table.dataset is None and not is_identifier(name):
                raise ValueError(
                    f"resource `{name}` is not a usable dataset name; set `dataset:` under it "
                    f"(e.g. `{snake_case(name)}`)"
                )
        return value


__all__ = ["COMMON_TYPES", "Nested", "PlanningApiConfig", "PlanningTable"]
