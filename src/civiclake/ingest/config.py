"""Settings every source has, whatever its type."""

from __future__ import annotations

from pydantic import Field

from civiclake.config.models import Model
from civiclake.naming import is_identifier, snake_case


def check_dataset_name(value: str | None) -> str | None:
    """A ``dataset:`` setting must be a lowercase SQL name (validator shared by sources)."""
    if value is not None and not is_identifier(value):
        raise ValueError(f"a dataset name is a lowercase SQL name, e.g. `{snake_case(value)}`")
    return value


class SourceConfig(Model):
    """Base of every source's settings; each connector adds its own keys."""

    type: str
    description: str = ""
    owner: str = ""
    schedule: str | None = None
    """Cron expression, informational until the scheduler lands (e.g. ``0 1 * * 1-5``)."""
    pii: list[str] = Field(default_factory=list)
    """Columns holding personal data (normalised names)."""
