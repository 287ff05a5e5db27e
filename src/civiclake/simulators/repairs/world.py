"""The repairs database and the changes one 15-minute cycle makes to it.

The clock is simulated: :attr:`RepairsSimulator.now` starts at ``start`` and each
:meth:`~RepairsSimulator.cycle` moves it on by ``minutes``. Every change stamps
``updated_at`` from that clock, as the application server that made it saw the time:

* server ``app-1`` is right; server ``app-2`` runs ``skew_minutes`` behind;
* a long transaction stamps the time it started and commits ``1..long_cycles`` cycles later
  (``long_cycles`` beyond a sync's overlap window means an incremental sync cannot see it);
* a few updates change a row without touching ``updated_at`` at all;
* cancelled work orders are sometimes hard-deleted, with their appointments.

The simulator never touches a row a pending long transaction holds, so on PostgreSQL
nothing waits on a lock. Everything is seeded: the same seed, scale and cycles give the same
database.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from civiclake.simulators.borough import LAST_NAMES, STREET_TYPES, STREET_WORDS, WARD_NAMES

if TYPE_CHECKING:
    import sqlalchemy as sa

TABLES = ("properties", "operatives", "work_orders", "appointments")
"""The tables of the repairs database, parents first."""

TRADES = ("plumbing", "electrical", "carpentry", "roofing", "plastering", "gas", "glazing")
PRIORITIES = ("emergency", "urgent", "normal", "planned")
STATUSES = ("raised", "assigned", "in_progress", "on_hold", "completed", "cancelled")
NEXT_STATUS = {
    "raised": ("assigned", "cancelled"),
    "assigned": ("in_progress", "on_hold", "cancelled"),
    "in_progress": ("completed", "on_hold"),
    "on_hold": ("in_progress", "cancelled"),
}
DESCRIPTIONS = (
    "Leaking tap in kitchen", "No hot water", "Broken window latch", "Damp in bedroom",
    "Front door will not lock", "Roof tiles missing", "Light fitting sparking",
    "Blocked toilet", "Boiler pressure dropping", "Cracked plaster in hallway",
    "Extractor fan not working", "Radiator cold at top", "Gutter overflowing",
)  # fmt: skip


@dataclass
class CycleReport:
    """What one cycle did, by kind (for tests and the demo's narration)."""

    now: datetime
    inserted: int = 0
    updated: int = 0
    silent_updates: list[int] = field(default_factory=list)
    """Work orders changed without bumping ``updated_at``."""
    skewed_updates: int = 0
    deleted: list[int] = field(default_factory=list)
    long_started: int = 0
    long_committed: int = 0
    """Long transactions made visible this cycle (their rows carry earlier timestamps)."""


@dataclass
class _Pending:
    commit_cycle: int
    holds: set[int]
    connection: Any = None
    """An open SQLAlchemy connection with its transaction (PostgreSQL)."""
    deferred: list[Callable[[Any], None]] = field(default_factory=list)
    """Writes held back to apply at commit time (SQLite)."""


def define_tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    import sqlalchemy as sa

    properties = sa.Table(
        "properties",
        metadata,
        sa.Column("property_ref", sa.String(12), primary_key=True),
        sa.Column("uprn", sa.BigInteger, nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("ward", sa.String(60), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
    )
    operatives = sa.Table(
        "operatives",
        metadata,
        sa.Column("operative_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("trade", sa.String(30), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
    )
    work_orders = sa.Table(
        "work_orders",
        metadata,
        sa.Column("work_order_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("property_ref", sa.String(12), nullable=False),
        sa.Column("operative_id", sa.Integer),
        sa.Column("trade", sa.String(30), nullable=False),
        sa.Column("priority", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("raised_at", sa.DateTime, nullable=False),
        sa.Column("target_date", sa.Date, nullable=False),
        sa.Column("completed_at", sa.DateTime),
        sa.Column("cost", sa.Numeric(10, 2)),
        sa.Column("updated_by", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
    )
    appointments = sa.Table(
        "appointments",
        metadata,
        sa.Column("work_order_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("appointment_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("operative_id", sa.Integer),
        sa.Column("starts_at", sa.DateTime, nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
    )
    return {
        "properties": properties,
        "operatives": operatives,
        "work_orders": work_orders,
        "appointments": appointments,
    }


class RepairsSimulator:
    """A repairs database at ``url`` and the cycles that change it."""

    def __init__(
        self,
        url: str,
        *,
        seed: int = 7,
        scale: float = 1.0,
        start: datetime = datetime(2026, 11, 2, 8, 0),
        minutes: int = 15,
        skew_minutes: int = 4,
        long_cycles: int = 3,
        silent_rate: float = 0.03,
    ) -> None:
        import sqlalchemy as sa

        self.url = url
        self.rng = random.Random(seed)
        self.scale = scale
        self.now = start
        self.minutes = minutes
        self.skew = timedelta(minutes=skew_minutes)
        self.long_cycles = long_cycles
        self.silent_rate = silent_rate
        parsed = sa.engine.make_url(url)
        if parsed.drivername == "postgresql":  # psycopg 3 (SQLAlchemy defaults to psycopg2)
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.engine = sa.create_engine(parsed, pool_pre_ping=True)
        self.metadata = sa.MetaData()
        self.tables = define_tables(self.metadata)
        self.cycles = 0
        self._pending: list[_Pending] = []
        self._next_id = 0
        self._open: list[int] = []
        """Work orders not completed or cancelled (the ones that change)."""
        self._appointments: dict[int, int] = {}
        """Appointments per work order."""
        self._operatives: list[int] = []
        self._properties: list[str] = []

    # -- set-up -----------------------------------------------------------------
    def create(self) -> RepairsSimulator:
        """Create the tables (dropping old ones) and the starting data."""
        self.metadata.drop_all(self.engine)
        self.metadata.create_all(self.engine)
        n_props = max(20, int(1500 * self.scale))
        n_ops = max(5, int(60 * self.scale))
        n_orders = max(40, int(2000 * self.scale))
        props = [self._property(i) for i in range(n_props)]
        ops = [self._operative(i) for i in range(1, n_ops + 1)]
        self._properties = [p["property_ref"] for p in props]
        self._operatives = [o["operative_id"] for o in ops]
        orders, appts = [], []
        for _ in range(n_orders):
            order = self._new_order(self.now - timedelta(days=self.rng.randint(1, 90)))
            if self.rng.random() < 0.6:
                order["status"] = self.rng.choice(STATUSES)
            orders.append(order)
            appts += self._new_appointments(order)
        with self.engine.begin() as conn:
            conn.execute(self.tables["properties"].insert(), props)
            conn.execute(self.tables["operatives"].insert(), ops)
            for chunk in _chunks(orders, 5000):
                conn.execute(self.tables["work_orders"].insert(), chunk)
            for chunk in _chunks(appts, 5000):
                conn.execute(self.tables["appointments"].insert(), chunk)
        self._open = [
            o["work_order_id"] for o in orders if o["status"] not in ("completed", "cancelled")
        ]
        return self

    def _property(self, i: int) -> dict[str, Any]:
        street = f"{self.rng.choice(STREET_WORDS)} {self.rng.choice(STREET_TYPES)}"
        return {
            "property_ref": f"{i + 1:08d}",
            "uprn": 100020000000 + i * 7,
            "address": f"{self.rng.randint(1, 240)} {street}, Riverside",
            "ward": WARD_NAMES[i % len(WARD_NAMES)],
            "updated_at": self.now - timedelta(days=400 - i % 300, minutes=i % 1440),
        }

    def _operative(self, i: int) -> dict[str, Any]:
        return {
            "operative_id": i,
            "name": f"{self.rng.choice(LAST_NAMES)} {chr(65 + i % 26)}.",
            "trade": TRADES[i % len(TRADES)],
            "is_active": True,
            "updated_at": self.now - timedelta(days=200 - i % 150, minutes=i),
        }

    def _new_order(self, at: datetime) -> dict[str, Any]:
        self._next_id += 1
        priority = self.rng.choice(PRIORITIES)
        days = {"emergency": 1, "urgent": 3, "normal": 21, "planned": 90}[priority]
        return {
            "work_order_id": 10_000_000 + self._next_id,
            "property_ref": self.rng.choice(self._properties),
            "operative_id": None,
            "trade": self.rng.choice(TRADES),
            "priority": priority,
            "status": "raised",
            "description": self.rng.choice(DESCRIPTIONS),
            "raised_at": at,
            "target_date": (at + timedelta(days=days)).date(),
            "completed_at": None,
            "cost": None,
            "updated_by": "app-1",
            "updated_at": at,
        }

    def _new_appointments(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        wo = order["work_order_id"]
        count = self.rng.choice((0, 1, 1, 2))
        self._appointments[wo] = count
        at = order["raised_at"]
        return [
            {
                "work_order_id": wo,
                "appointment_no": n,
                "operative_id": self.rng.choice(self._operatives),
                "starts_at": at + timedelta(days=n, hours=2),
                "ends_at": at + timedelta(days=n, hours=4),
                "status": "booked",
                "updated_at": at,
            }
            for n in range(1, count + 1)
        ]

    # -- one cycle --------------------------------------------------------------
    def cycle(self) -> CycleReport:
        """Move the clock on and make one cycle's changes (committing due long transactions)."""
        self.cycles += 1
        self.now += timedelta(minutes=self.minutes)
        report = CycleReport(now=self.now)
        self._commit_due(report)
        held = set().union(*(p.holds for p in self._pending)) if self._pending else set()
        free = [wo for wo in self._open if wo not in held]
        self.rng.shuffle(free)
        n_updates = min(len(free), max(3, int(60 * self.scale)))
        to_update, free = free[:n_updates], free[n_updates:]
        with self.engine.begin() as conn:
            for _ in range(max(1, int(20 * self.scale))):
                order = self._new_order(self._stamp("app-1"))
                conn.execute(self.tables["work_orders"].insert(), [order])
                appts = self._new_appointments(order)
                if appts:
                    conn.execute(self.tables["appointments"].insert(), appts)
                self._open.append(order["work_order_id"])
                report.inserted += 1
            for wo in to_update:
                server = "app-2" if self.rng.random() < 0.3 else "app-1"
                silent = self.rng.random() < self.silent_rate
                self._update(conn, wo, server=server, bump=not silent)
                report.updated += 1
                report.skewed_updates += server == "app-2"
                if silent:
                    report.silent_updates.append(wo)
            if self.cycles % 2 == 0 and free:
                wo = free.pop()
                self._delete(conn, wo)
                report.deleted.append(wo)
        if free and self.rng.random() < 0.6:
            lasting = 1 if self.rng.random() < 0.6 else self.long_cycles
            self._start_long(free[:3], lasting)
            report.long_started += 1
        return report

    def _stamp(self, server: str) -> datetime:
        """``updated_at`` as ``server`` sees the time, somewhere in the cycle just gone."""
        at = self.now - timedelta(seconds=self.rng.randint(0, self.minutes * 60 - 1))
        return at - self.skew if server == "app-2" else at

    def _update(
        self,
        conn: Any,
        wo: int,
        *,
        server: str,
        bump: bool = True,
        stamp: datetime | None = None,
    ) -> None:
        table = self.tables["work_orders"]
        row = conn.execute(table.select().where(table.c.work_order_id == wo)).mappings().first()
        if row is None:
            return
        status = row["status"]
        new_status = self.rng.choice(NEXT_STATUS.get(status, ("on_hold",)))
        values: dict[str, Any] = {"status": new_status, "updated_by": server}
        if new_status == "assigned" or self.rng.random() < 0.2:
            values["operative_id"] = self.rng.choice(self._operatives)
        if new_status == "completed":
            values["completed_at"] = stamp or self._stamp(server)
            values["cost"] = Decimal(self.rng.randint(4000, 90000)) / 100
        if bump:
            values["updated_at"] = stamp or self._stamp(server)
        conn.execute(table.update().where(table.c.work_order_id == wo).values(**values))
        if new_status in ("completed", "cancelled") and wo in self._open:
            self._open.remove(wo)
        appts = self.tables["appointments"]
        if self._appointments.get(wo) and bump:
            conn.execute(
                appts.update()
                .where(appts.c.work_order_id == wo, appts.c.appointment_no == 1)
                .values(
                    status="attended" if new_status == "completed" else "rebooked",
                    updated_at=values["updated_at"],
                )
            )

    def _delete(self, conn: Any, wo: int) -> None:
        orders, appts = self.tables["work_orders"], self.tables["appointments"]
        conn.execute(appts.delete().where(appts.c.work_order_id == wo))
        conn.execute(orders.delete().where(orders.c.work_order_id == wo))
        self._open.remove(wo)
        self._appointments.pop(wo, None)

    def _start_long(self, orders: list[int], lasting: int) -> None:
        """Update ``orders`` in a transaction stamped now that commits ``lasting`` cycles on."""
        stamp = self._stamp("app-1")
        pending = _Pending(commit_cycle=self.cycles + lasting, holds=set(orders))
        # the random choices are made now, so the result does not depend on the database
        choices = random.Random(self.rng.random())

        def apply(conn: Any) -> None:
            saved, self.rng = self.rng, choices
            try:
                for wo in orders:
                    self._update(conn, wo, server="app-1", stamp=stamp)
            finally:
                self.rng = saved

        if self.engine.dialect.name == "sqlite":
            pending.deferred.append(apply)
        else:
            conn = self.engine.connect()
            conn.begin()
            apply(conn)
            pending.connection = conn
        self._pending.append(pending)

    def _commit_due(self, report: CycleReport, *, everything: bool = False) -> None:
        due = [p for p in self._pending if everything or p.commit_cycle <= self.cycles]
        for pending in due:
            if pending.connection is not None:
                pending.connection.commit()
                pending.connection.close()
            else:
                with self.engine.begin() as conn:
                    for apply in pending.deferred:
                        apply(conn)
            self._pending.remove(pending)
            report.long_committed += 1

    # -- ending -------------------------------------------------------------------
    def settle(self) -> CycleReport:
        """Commit every pending long transaction now (e.g. before a final comparison)."""
        report = CycleReport(now=self.now)
        self._commit_due(report, everything=True)
        return report

    def close(self) -> None:
        for pending in self._pending:
            if pending.connection is not None:
                pending.connection.rollback()
                pending.connection.close()
        self._pending.clear()
        self.engine.dispose()

    def __enter__(self) -> RepairsSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every committed row of ``table`` (the ground truth tests compare against)."""
        t = self.tables[table]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(t.select()).mappings()]


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


__all__ = ["TABLES", "CycleReport", "RepairsSimulator", "define_tables"]
