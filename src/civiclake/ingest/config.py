"""Settings every source has, whatever its type."""

from __future__ import annotations

from pydantic import Field

from civiclake.config.models import Model


class SourceConfig(Model):
    """Base of every source's settings; each connector adds its own keys."""

    type: str
    description: str = ""
    owner: str = ""
    schedule: str | None = None
    """Cron expression, informational until the scheduler lands (e.g. ``0 1 * * 1-5``)."""
    pii: list[str] = Field(default_factory=list)
    """Columns holding personal data (normalised names)."""
