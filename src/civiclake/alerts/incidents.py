"""Incidents in the metadata store: open while something is wrong, closed when it clears.

An incident is keyed by (department, kind, subject) while open: a step failing in five
runs in a row is one incident seen five times (``last_seen_at`` moves), not five. Its
alert is due while ``notified_at`` is empty and its recovery notice once it is closed
and ``recovery_notified_at`` is empty — but only when its alert went out, so nobody gets
"recovered" for something they never heard was broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from civiclake.metadata import schema as t

if TYPE_CHECKING:
    from civiclake.metadata import MetadataStore

IncidentKind = Literal["failure", "check", "freshness"]
KINDS: tuple[IncidentKind, ...] = ("failure", "check", "freshness")
_MESSAGE_CHARS = 4000


@dataclass(frozen=True)
class Incident:
    id: int
    department: str
    kind: str
    subject: str
    message: str
    run_id: int | None
    opened_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None
    notified_at: datetime | None
    recovery_notified_at: datetime | None

    @property
    def open(self) -> bool:
        return self.closed_at is None


class Incidents:
    """The ``incidents`` table (a per-concern repository over the store, like leases)."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def open_or_touch(
        self,
        *,
        department: str,
        kind: str,
        subject: str,
        message: str,
        run_id: int | None,
        now: datetime,
    ) -> tuple[Incident, bool]:
        """The open incident for (department, kind, subject), opened if there is none;
        ``True`` when it was opened now."""
        c = t.incidents.c
        message = message[:_MESSAGE_CHARS]
        with self.store.write() as conn:
            row = conn.execute(_open_query(department, kind, subject)).first()
            if row is not None:
                conn.execute(
                    t.incidents.update()
                    .where(c.id == row.id)
                    .values(last_seen_at=now, message=message, run_id=run_id)
                )
                ident, opened = row.id, False
            else:
                result = conn.execute(
                    t.incidents.insert().values(
                        department=department,
                        kind=kind,
                        subject=subject,
                        message=message,
                        run_id=run_id,
                        opened_at=now,
                        last_seen_at=now,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                ident, opened = int(key[0]), True
            return _incident(
                conn.execute(sa.select(t.incidents).where(c.id == ident)).one()
            ), opened

    def close(self, *, department: str, kind: str, subject: str, now: datetime) -> Incident | None:
        """Close the open incident for (department, kind, subject); None when none was open."""
        c = t.incidents.c
        with self.store.write() as conn:
            row = conn.execute(_open_query(department, kind, subject)).first()
            if row is None:
                return None
            conn.execute(t.incidents.update().where(c.id == row.id).values(closed_at=now))
            return _incident(conn.execute(sa.select(t.incidents).where(c.id == row.id)).one())

    def open_subjects(self, kind: str) -> set[tuple[str, str]]:
        """(department, subject) of every open incident of ``kind``."""
        c = t.incidents.c
        query = sa.select(c.department, c.subject).where(c.kind == kind, c.closed_at.is_(None))
        with self.store.engine.connect() as conn:
            return {(r.department, r.subject) for r in conn.execute(query)}

    def due_alerts(self) -> list[Incident]:
        c = t.incidents.c
        return self._select((c.closed_at.is_(None)) & (c.notified_at.is_(None)))

    def due_recoveries(self) -> list[Incident]:
        c = t.incidents.c
        return self._select(
            c.closed_at.is_not(None) & c.notified_at.is_not(None) & c.recovery_notified_at.is_(None)
        )

    def mark(
        self, ident: int, column: Literal["notified_at", "recovery_notified_at"], when: datetime
    ) -> None:
        with self.store.write() as conn:
            conn.execute(
                t.incidents.update().where(t.incidents.c.id == ident).values({column: when})
            )

    def newest(self, *, include_closed: bool = False, limit: int = 200) -> list[Incident]:
        """Newest first; open ones only unless ``include_closed``."""
        c = t.incidents.c
        where = sa.true() if include_closed else c.closed_at.is_(None)
        return self._select(where, newest_first=True, limit=limit)

    def _select(
        self, where: Any, *, newest_first: bool = False, limit: int | None = None
    ) -> list[Incident]:
        c = t.incidents.c
        query = sa.select(t.incidents).where(where)
        query = query.order_by(c.id.desc() if newest_first else c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.store.engine.connect() as conn:
            return [_incident(r) for r in conn.execute(query)]


def _open_query(department: str, kind: str, subject: str) -> Any:
    c = t.incidents.c
    return (
        sa.select(t.incidents)
        .where(
            c.department == department,
            c.kind == kind,
            c.subject == subject,
            c.closed_at.is_(None),
        )
        .order_by(c.id)
        .limit(1)
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _incident(row: Any) -> Incident:
    m: Mapping[str, Any] = row._mapping
    return Incident(
        id=m["id"],
        department=m["department"],
        kind=m["kind"],
        subject=m["subject"],
        message=m["message"],
        run_id=m["run_id"],
        opened_at=_aware(m["opened_at"]),  # type: ignore[arg-type]
        last_seen_at=_aware(m["last_seen_at"]),  # type: ignore[arg-type]
        closed_at=_aware(m["closed_at"]),
        notified_at=_aware(m["notified_at"]),
        recovery_notified_at=_aware(m["recovery_notified_at"]),
    )


__all__ = ["KINDS", "Incident", "IncidentKind", "Incidents"]
