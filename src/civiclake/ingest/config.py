"""Settings every source has, whatever its type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field, field_validator

from civiclake.config.models import Model
from civiclake.naming import is_identifier, snake_case


def check_dataset_name(value: str | None) -> str | None:
    """A ``dataset:`` setting must be a lowercase SQL name (validator shared by sources)."""
    if value is not None and not is_identifier(value):
        raise ValueError(f"a dataset name is a lowercase SQL name, e.g. `{snake_case(value)}`")
    return value


DeleteMode = Literal["invalidate", "new_record", "ignore"]
"""What a delete does to a keyed dataset's history (dbt snapshots' ``hard_deletes``):
``invalidate`` closes the last version (``valid_to`` set, nothing added to history's
rows), ``new_record`` also adds a row marked ``is_deleted``, ``ignore`` records nothing
(latest keeps the record)."""


def check_track(
    value: Literal["all"] | list[str], normalise: Callable[[str], str] | None = None
) -> Literal["all"] | list[str]:
    """A ``track:`` setting: ``all``, or a non-empty list of columns (``normalise``d)."""
    if isinstance(value, list):
        if not value:
            raise ValueError("list at least one column, or use `all`")
        return [normalise(v) for v in value] if normalise else value
    return value


class HistoryOptions(Model):
    """How a keyed dataset's history notices changes and deletes (see docs/history.md)."""

    track: Literal["all"] | list[str] = "all"
    """Columns whose change makes a new version (null-safe): ``all``, or a list."""
    deletes: DeleteMode = "invalidate"

    @field_validator("track")
    @classmethod
    def _tracked(cls, value: Literal["all"] | list[str]) -> Literal["all"] | list[str]:
        return check_track(value)


class SourceConfig(Model):
    """Base of every source's settings; each connector adds its own keys."""

    type: str
    description: str = ""
    owner: str = ""
    schedule: str | None = None
    """When the source runs unattended: a cron expression or ``every 15 minutes``,
    ``daily at 02:00``, ``weekdays at 07:30`` (see :mod:`civiclake.config.schedule`)."""
    pii: list[str] = Field(default_factory=list)
    """Columns holding personal data (normalised names)."""
    freshness: str | None = None
    """How old the newest successful write of each dataset may be before the department is
    alerted, e.g. ``26h``, ``30m``, ``2d`` (see :mod:`civiclake.alerts`)."""

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, value: str | None) -> str | None:
        from civiclake.config.schedule import parse_schedule

        if value is not None:
            parse_schedule(value)  # ScheduleError is a ValueError: reported with file and line
        return value

    @field_validator("freshness")
    @classmethod
    def _freshness_parses(cls, value: str | None) -> str | None:
        from civiclake.config.durations import parse_duration

        if value is not None:
            parse_duration(value)
        return value
