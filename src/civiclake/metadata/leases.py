"""Leases: one writer per dataset at a time, across processes and machines.

A run takes a lease on every dataset its steps write before it starts them, all or none,
in one transaction of the metadata store (SQLite or PostgreSQL alike). A lease names its
holder (run, process, host) and expires unless renewed, so a holder that died — SIGKILL,
a lost machine — frees its datasets after ``ttl`` (at once when it ran on this host and
its process is gone). Each acquisition increments the resource's ``token``: a holder
whose lease expired and was taken by another finds its token stale, and
:meth:`Leases.check` refuses its commit (fencing)::

    leases = Leases(store)
    taken = leases.acquire(["housing_raw.rents"], holder="run 12", ttl=120)
    if isinstance(taken, Held):
        print(f"{taken.resource} is held by {taken.holder} since {taken.since}")
    else:
        leases.check(taken)        # before each commit: still ours?
        leases.renew(taken, ttl=120)
        leases.release(taken)
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from civiclake.exceptions import CivicLakeError
from civiclake.metadata import schema as t

if TYPE_CHECKING:
    from civiclake.metadata.store import MetadataStore


class LeaseLost(CivicLakeError):
    """A lease expired and another holder took it: this holder must not commit."""


@dataclass(frozen=True)
class Lease:
    """A dataset held by this process until ``expires_at`` (fenced by ``token``)."""

    resource: str
    holder: str
    token: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Held:
    """Why an acquisition failed: who holds the first busy resource, and since when."""

    resource: str
    holder: str
    since: datetime
    expires_at: datetime
    host: str
    pid: int


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _process_gone(host: str, pid: int) -> bool:
    """The holder ran on this machine and its process no longer exists."""
    if host != socket.gethostname() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leases:
    """The lease table of a metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def acquire(
        self,
        resources: Sequence[str],
        *,
        holder: str,
        ttl: float,
        run_id: int | None = None,
    ) -> list[Lease] | Held:
        """Take every resource, or none (then who holds the first busy one)."""
        now = _now()
        expires = now + timedelta(seconds=ttl)
        host, pid = socket.gethostname(), os.getpid()
        taken: list[Lease] = []
        with self.store.write() as conn:
            for resource in sorted(set(resources)):
                row = conn.execute(
                    sa.select(t.leases).where(t.leases.c.resource == resource)
                ).first()
                if row is not None:
                    live = _aware(row.expires_at) > now and not _process_gone(row.host, row.pid)
                    if live and row.holder != holder:
                        conn.rollback()
                        return Held(
                            resource,
                            row.holder,
                            _aware(row.acquired_at),
                            _aware(row.expires_at),
                            row.host,
                            row.pid,
                        )
                    token = int(row.token) + 1
                else:
                    token = 1
                values = {
                    "holder": holder,
                    "token": token,
                    "acquired_at": now,
                    "expires_at": expires,
                    "host": host,
                    "pid": pid,
                    "run_id": run_id,
                }
                if row is None:
                    conn.execute(t.leases.insert().values(resource=resource, **values))
                else:
                    conn.execute(
                        t.leases.update().where(t.leases.c.resource == resource).values(**values)
                    )
                taken.append(Lease(resource, holder, token, now, expires))
        return taken

    def renew(self, leases: Sequence[Lease], *, ttl: float) -> list[Lease]:
        """Extend the leases still held (same token); raises :class:`LeaseLost` for any lost."""
        expires = _now() + timedelta(seconds=ttl)
        with self.store.write() as conn:
            for lease in leases:
                done = conn.execute(
                    t.leases.update()
                    .where(t.leases.c.resource == lease.resource, t.leases.c.token == lease.token)
                    .values(expires_at=expires)
                )
                if done.rowcount != 1:
                    raise LeaseLost(_lost(lease))
        return [replace(lease, expires_at=expires) for lease in leases]

    def check(self, lease: Lease) -> None:
        """Raise :class:`LeaseLost` unless ``lease`` is still this holder's (before a commit)."""
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.leases.c.token, t.leases.c.expires_at).where(
                    t.leases.c.resource == lease.resource
                )
            ).first()
        if row is None or int(row.token) != lease.token or _aware(row.expires_at) <= _now():
            raise LeaseLost(_lost(lease))

    def release(self, leases: Sequence[Lease]) -> None:
        """Give the leases back (a lease already taken by another is left alone). The row
        stays, expired, so the next holder's token is still higher than any before it."""
        if not leases:
            return
        now = _now()
        with self.store.write() as conn:
            for lease in leases:
                conn.execute(
                    t.leases.update()
                    .where(t.leases.c.resource == lease.resource, t.leases.c.token == lease.token)
                    .values(expires_at=now)
                )

    def held(self) -> list[Held]:
        """Every live lease (not expired, its holder not a dead process on this host)."""
        now = _now()
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(t.leases).order_by(t.leases.c.resource)).all()
        return [
            Held(r.resource, r.holder, _aware(r.acquired_at), _aware(r.expires_at), r.host, r.pid)
            for r in rows
            if _aware(r.expires_at) > now and not _process_gone(r.host, r.pid)
        ]


def _lost(lease: Lease) -> str:
    return (
        f"lost the lease on {lease.resource} (it expired and another run took it): this run "
        "stops before writing it; run it again once the other run has finished"
    )


__all__ = ["Held", "Lease", "LeaseLost", "Leases"]
