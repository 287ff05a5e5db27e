"""The scheduler's memory: per step, the slot it last ran, that run, the next slot, pauses.

Kept in the metadata store so that a restarted scheduler — or another scheduler process
taking over as leader — knows what already ran and catches up missed slots once::

    states = ScheduleStates(store)
    state = states.get("repairs/drs")            # None before the scheduler first saw it
    states.save(replace(state, next_due_at=...))
    states.pause("repairs/drs", by="ana")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from civiclake.metadata import schema as t

if TYPE_CHECKING:
    from civiclake.metadata.store import MetadataStore


@dataclass(frozen=True)
class ScheduleState:
    """What the scheduler knows of one step."""

    step: str
    paused: bool = False
    paused_by: str | None = None
    paused_at: datetime | None = None
    last_due_at: datetime | None = None
    """The slot (scheduled moment) the step last ran for."""
    last_run_id: int | None = None
    last_status: str | None = None
    last_started_at: datetime | None = None
    last_ended_at: datetime | None = None
    next_due_at: datetime | None = None
    inputs_seen: Mapping[str, int | None] = field(default_factory=dict)
    """For a job: the catalog version of each input when it last ran (asset-based runs)."""


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _state(row: Any) -> ScheduleState:
    values = {f.name: row[f.name] for f in fields(ScheduleState)}
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = _aware(value)
    values["paused"] = bool(values["paused"])
    values["inputs_seen"] = dict(values["inputs_seen"] or {})
    return ScheduleState(**values)


class ScheduleStates:
    """The ``schedule_state`` table of a metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def all(self) -> dict[str, ScheduleState]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(t.schedule_state)).mappings().all()
        return {row["step"]: _state(row) for row in rows}

    def get(self, step: str) -> ScheduleState | None:
        with self.store.engine.connect() as conn:
            row = (
                conn.execute(sa.select(t.schedule_state).where(t.schedule_state.c.step == step))
                .mappings()
                .first()
            )
        return _state(row) if row is not None else None

    def save(self, state: ScheduleState) -> None:
        values = {f.name: getattr(state, f.name) for f in fields(ScheduleState)}
        values["inputs_seen"] = dict(state.inputs_seen)
        values["updated_at"] = datetime.now(UTC)
        with self.store.write() as conn:
            done = conn.execute(
                t.schedule_state.update()
                .where(t.schedule_state.c.step == state.step)
                .values(**{k: v for k, v in values.items() if k != "step"})
            )
            if done.rowcount == 0:
                conn.execute(t.schedule_state.insert().values(**values))

    def pause(self, step: str, *, by: str, at: datetime | None = None) -> ScheduleState:
        state = self.get(step) or ScheduleState(step)
        paused = replace(state, paused=True, paused_by=by, paused_at=at or datetime.now(UTC))
        self.save(paused)
        return paused

    def resume(self, step: str) -> ScheduleState:
        state = self.get(step) or ScheduleState(step)
        # the slots missed while paused are dropped: the next slot is worked out afresh
        # from the clock at the scheduler's next look
        resumed = replace(state, paused=False, paused_by=None, paused_at=None, next_due_at=None)
        self.save(resumed)
        return resumed


__all__ = ["ScheduleState", "ScheduleStates"]
