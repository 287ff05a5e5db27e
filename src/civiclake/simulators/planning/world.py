"""A seeded, in-memory council planning system that changes day by day.

:class:`PlanningWorld` is the data behind the simulated planning API and the
ground truth tests compare a pipeline's output with. It starts with about three
years of history (``2,000 × scale`` applications, all last updated before
``start``) and then lives through ``start``, ``start + 1`` … one day at a time:

* about ``40 × scale`` new applications a day, each with a gazetteer location
  and (unless exempt) a fee, most paid at once (a ``fee_payments`` row);
* about ``80 × scale`` application updates a day, nine in ten on the newest
  tenth of applications: the stage moves on (Received → Validated →
  Consultation → Assessment → Decision issued, paying the fee on validation)
  or an officer, comment count, extension of time or the agent changes;
* some records updated several times on one day, at distinct times;
* *late updates* (6 % of application updates): a version whose
  ``last_updated`` is on day D becomes visible only 1–3 days later, like a
  row committed after a nightly extract passed it. A pipeline that pulls
  ``?last_updated=D`` on D + 1 misses it; pulling D again later finds it;
* ceased records (``ceased: "true"`` with ``ceased_date``) — the API's only
  delete signal: applications created in error, reversed payments, officers
  moving team (their ``user_team_map`` row ceases and a new one starts);
* enforcement cases opening and moving on, fees refunded, users edited;
* on :attr:`PlanningWorld.new_column_date` (by default the 20th simulated day,
  counting ``start`` as day 1) ``applications`` gains the column
  ``climate_assessment_required``: versions made from that day carry it,
  older versions (and records not touched since) do not.

Every version ever made is kept with the moment it becomes visible, so the
API can serve "the newest version of each record visible at moment T" and
tests can ask what a correct pipeline should hold (:meth:`~PlanningWorld.current`,
:meth:`~PlanningWorld.versions`).

Determinism: each simulated day draws from its own :class:`random.Random`
seeded by ``(seed, scale, start, day)`` and the days are always lived in
order, so the state on day D depends only on ``seed``, ``start``, ``scale``
and D, however the world was advanced. Times are naive local (Europe/London)
datetimes, as the real system stores them.

Tables and their columns (every table also has ``id``, ``creation_user_id``,
``last_updated_by``, ``last_updated``, ``submit_date``, ``ceased_date``,
``ceased``; every value is a string or null; foreign keys point at records
that exist, and are visible, whenever the referring version is):

``applications``
    see :data:`APPLICATION_COLUMNS`; ``agent`` is a nested object
    (``name``, ``company``, ``email``, ``phone``) or null.
``application_types``
    code, name, statutory_weeks, base_fee, description
``wards``
    ward_code (``RV01``…), name, councillors
``users``
    username, first_name, last_name, email, job_title, phone, active
``user_teams``
    team_code, name, description
``user_team_map``
    user_id, user_team_id, start_date
``dtf_locations``
    uprn, usrn, parent_uprn, address_line_1, town, postcode, ward_id,
    property_type, x_coordinate, y_coordinate
``fees``
    application_id, fee_type, fee, paid, refunded, due_date
``fee_payments``
    fee_id, amount_paid, payment_date, payment_method, receipt_number
``enforcements``
    reference_number, application_id (nullable), ward_id, officer_id,
    dtf_location_id, breach_type, priority, status, received_date,
    closed_date, description
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
import threading
from datetime import date, datetime, time, timedelta
from typing import Any

from civiclake.simulators import SimulatorError
from civiclake.simulators.borough import WARD_NAMES
from civiclake.simulators.planning import _records as rec

Record = dict[str, Any]

TABLES = (
    "applications",
    "application_types",
    "wards",
    "users",
    "user_teams",
    "user_team_map",
    "dtf_locations",
    "fees",
    "fee_payments",
    "enforcements",
)
"""The resources the world (and the API) has, one per table."""

COMMON_COLUMNS = (
    "id",
    "creation_user_id",
    "last_updated_by",
    "last_updated",
    "submit_date",
    "ceased_date",
    "ceased",
)
APPLICATION_COLUMNS = (
    *COMMON_COLUMNS,
    "application_reference_number",
    "application_type_id",
    "ward_id",
    "officer_id",
    "dtf_location_id",
    "proposal",
    "application_stage",
    "development_type",
    "decision_type",
    "decision_level",
    "received_date",
    "valid_date",
    "registration_date",
    "target_decision_date",
    "consultation_end_date",
    "decision_issued_date",
    "expiry_date",
    "extension_of_time_due_date",
    "ppa_decision_due_date",
    "site_address",
    "site_postcode",
    "site_address_x",
    "site_address_y",
    "uprn",
    "number_of_units",
    "net_floor_area_sqm",
    "estimated_cost",
    "number_of_public_comments",
    "is_major",
    "fee_exempt",
    "ppa_agreed",
    "extension_of_time_agreed",
    "requires_eia",
    "public_consultation_required",
    "listed_building",
    "conservation_area",
    "appeal_lodged",
    "applicant_name",
    "applicant_type",
    "agent",
    "gis_map_image_base64",
)
"""The columns of every ``applications`` version (48), in the order the API sends them."""

NEW_COLUMN = "climate_assessment_required"
"""The column ``applications`` gains on :attr:`PlanningWorld.new_column_date`."""

HISTORY_DAYS = 3 * 365
LATE_SHARE = 0.06
"""Share of application updates that become visible 1–3 days after their ``last_updated``."""
REPEAT_SHARE = 0.15
"""Share of application updates followed by another update of the same record that day."""
RECENT_SHARE = 0.9
"""Share of updates that touch the newest tenth of records."""
_OPENS, _CLOSES = 7 * 3600, 22 * 3600


def stamp(moment: datetime) -> str:
    """A timestamp as the API writes it: ``YYYY-MM-DD HH:MM:SS``."""
    return moment.replace(microsecond=0).isoformat(sep=" ")


class _Table:
    """Every version of one table's records, per id in the order they become visible."""

    __slots__ = ("by_id", "log", "name", "order")

    def __init__(self, name: str) -> None:
        self.name = name
        self.by_id: dict[int, list[tuple[datetime, Record]]] = {}
        self.order: list[int] = []
        self.log: list[tuple[datetime, Record]] = []

    def add(self, rid: int, visible_from: datetime, record: Record) -> None:
        versions = self.by_id.get(rid)
        if versions is None:
            versions = self.by_id[rid] = []
            self.order.append(rid)
        versions.append((visible_from, record))
        self.log.append((visible_from, record))

    def latest(self, rid: int) -> Record:
        return self.by_id[rid][-1][1]


def _copy(record: Record) -> Record:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in record.items()}


class PlanningWorld:
    """A council planning system's tables, evolving one simulated day at a time.

    ``start`` is the first simulated day; the world is built up to the day
    before it (history only) and :meth:`advance_to` lives further days.
    ``new_column_day`` is the simulated day (``start`` = 1) on which
    ``applications`` gains :data:`NEW_COLUMN`. Safe to share between threads.
    """

    def __init__(self, seed: int, start: date, scale: int = 1, *, new_column_day: int = 20) -> None:
        if scale < 1:
            raise SimulatorError(f"PlanningWorld scale must be 1 or more, got {scale}")
        if new_column_day < 1:
            raise SimulatorError(
                f"PlanningWorld new_column_day counts days from start (= day 1); got "
                f"{new_column_day}"
            )
        self.seed = seed
        self.start = start
        self.scale = scale
        self.new_column_date = start + timedelta(days=new_column_day - 1)
        self._new_column_stamp = stamp(datetime.combine(self.new_column_date, time()))
        self._lock = threading.RLock()
        self._tables = {name: _Table(name) for name in TABLES}
        self._through = start - timedelta(days=1)
        self._numbers: dict[tuple[str, int], int] = {}
        self._fee_of: dict[int, int] = {}
        self._team_map_of: dict[int, int] = {}
        self._officers: list[int] = []
        self._type_ids: list[int] = []
        self._ward_ids: list[int] = []
        self._received: list[datetime] = []
        self._seq = itertools.count()
        self._build_history(self._rng("history"))

    # -- what tests and the server ask -------------------------------------------------
    @property
    def simulated_through(self) -> date:
        """The last day lived so far (``start - 1`` before the first :meth:`advance_to`)."""
        return self._through

    def advance_to(self, day: date) -> None:
        """Live every day up to and including ``day``; earlier days are a no-op."""
        with self._lock:
            while self._through < day:
                self._through += timedelta(days=1)
                self._live(self._through)

    def versions(self, table: str) -> list[Record]:
        """Every version made so far, in the order made, each with ``_visible_from`` (datetime)."""
        with self._lock:
            return [{**_copy(r), "_visible_from": v} for v, r in self._table(table).log]

    def current(self, table: str, at: datetime) -> list[Record]:
        """The records the API serves at simulated moment ``at``, sorted by id.

        For each id, the newest version whose visible moment is at or before
        ``at``; ids with no visible version yet are left out. Lives the days up
        to ``at`` first if needed.
        """
        self.advance_to(at.date())
        with self._lock:
            t = self._table(table)
            served = []
            for rid in t.order:
                for visible_from, record in reversed(t.by_id[rid]):
                    if visible_from <= at:
                        served.append(_copy(record))
                        break
            return served

    def _table(self, name: str) -> _Table:
        try:
            return self._tables[name]
        except KeyError:
            raise SimulatorError(
                f"the planning world has no table {name!r}; tables: {', '.join(TABLES)}"
            ) from None

    # -- writing versions --------------------------------------------------------------
    def _rng(self, label: str) -> random.Random:
        return random.Random(f"civiclake-planning/{self.seed}/{self.scale}/{self.start}/{label}")

    def _insert(self, table: str, when: datetime, by: int, fields: Record) -> int:
        t = self._tables[table]
        rid = len(t.order) + 1
        ts = stamp(when)
        record: Record = {
            "id": str(rid),
            "creation_user_id": str(by),
            "last_updated_by": str(by),
            "last_updated": ts,
            "submit_date": ts,
            "ceased_date": None,
            "ceased": "false",
            **fields,
        }
        self._add(t, rid, when, record)
        return rid

    def _revise(
        self,
        table: str,
        rid: int,
        when: datetime,
        by: int,
        changes: Record,
        visible_from: datetime | None = None,
    ) -> None:
        t = self._tables[table]
        record = {
            **t.latest(rid),
            **changes,
            "last_updated_by": str(by),
            "last_updated": stamp(when),
        }
        self._add(t, rid, visible_from or when, record)

    def _add(self, t: _Table, rid: int, visible_from: datetime, record: Record) -> None:
        last_updated = record["last_updated"]
        if t.name == "applications" and last_updated >= self._new_column_stamp:
            # Made on or after the schema change: the new column is there.
            chosen = record["is_major"] == "true" or rid % 6 == 0
            record.setdefault(NEW_COLUMN, rec.yes(chosen))
        t.add(rid, visible_from, record)

    def _cease(self, table: str, rid: int, when: datetime, by: int) -> None:
        self._revise(table, rid, when, by, {"ceased": "true", "ceased_date": stamp(when)})

    def _can_revise(self, table: str, rid: int, when: datetime) -> bool:
        """Whether a new version at ``when`` keeps the id's versions in visible order."""
        visible_from, record = self._tables[table].by_id[rid][-1]
        return (
            visible_from <= when
            and record["last_updated"] < stamp(when)
            and record["ceased"] == "false"
        )

    def _pick(
        self, rng: random.Random, table: str, when: datetime, recent: float = RECENT_SHARE
    ) -> int | None:
        """A record to update, skewed to the newest tenth; ``None`` if none was free."""
        order = self._tables[table].order
        newest = order[-max(1, len(order) // 10) :]
        for _ in range(8):
            rid = rng.choice(newest) if rng.random() < recent else rng.choice(order)
            if self._can_revise(table, rid, when):
                return rid
        return None

    def _number(self, prefix: str, year: int) -> str:
        n = self._numbers[prefix, year] = self._numbers.get((prefix, year), 0) + 1
        return f"{prefix}{year}/{n:04d}"

    # -- history -----------------------------------------------------------------------
    def _build_history(self, rng: random.Random) -> None:
        origin = datetime.combine(self.start - timedelta(days=HISTORY_DAYS + 30), time(9))
        for uid in range(1, 31 + 10 * self.scale):
            self._insert("users", origin, 1, rec.user(rng, uid))
        self._officers = list(range(2, 31 + 10 * self.scale))
        for code, name, description in rec.TEAMS:
            fields = {"team_code": code, "name": name, "description": description}
            self._insert("user_teams", origin, 1, fields)
        for uid in self._officers:
            self._join_team(rng, uid, origin, rng.randint(1, len(rec.TEAMS)))
        for kind in rec.APPLICATION_TYPES:
            fields = {
                "code": kind.code,
                "name": kind.name,
                "statutory_weeks": str(kind.weeks),
                "base_fee": rec.money(kind.fee),
                "description": kind.name,
            }
            self._type_ids.append(self._insert("application_types", origin, 1, fields))
        for i, name in enumerate(WARD_NAMES, start=1):
            councillors = ", ".join(" ".join(rec.person(rng)) for _ in range(3))
            fields = {"ward_code": f"RV{i:02d}", "name": name, "councillors": councillors}
            self._ward_ids.append(self._insert("wards", origin, 1, fields))

        window = HISTORY_DAYS * 86400
        first = datetime.combine(self.start - timedelta(days=HISTORY_DAYS), time())
        moments = sorted(self._moment(rng, first + timedelta(seconds=rng.randrange(window)))
                         for _ in range(2000 * self.scale))  # fmt: skip
        end = datetime.combine(self.start, time())
        for received in moments:
            app_id = self._new_application(rng, received)
            self._age_application(rng, app_id, received, end)
        opened = sorted(self._moment(rng, first + timedelta(seconds=rng.randrange(window)))
                        for _ in range(150 * self.scale))  # fmt: skip
        for moment in opened:
            case_id = self._new_enforcement(rng, moment, 0)
            closed = self._moment(rng, moment + timedelta(days=rng.randint(20, 120)))
            if closed < end:
                changes = {"status": "Closed", "closed_date": closed.date().isoformat()}
                officer = int(self._tables["enforcements"].latest(case_id)["officer_id"])
                self._revise("enforcements", case_id, closed, officer, changes)

    def _age_application(
        self, rng: random.Random, app_id: int, received: datetime, end: datetime
    ) -> None:
        """Move a historical application through its stages as far as ``end`` allows.

        The steps are folded into one later version (the history's middle
        versions are nobody's concern), paying the fee when it was validated.
        """
        app = self._tables["applications"].latest(app_id)
        kind = rec.APPLICATION_TYPES[self._type_ids.index(int(app["application_type_id"]))]
        moment, merged = received, dict(app)
        while True:
            step = moment + timedelta(days=rng.choice((2, 5, 9, 14, 21, 30, 45)))
            step = self._moment(rng, datetime.combine(step.date(), time()))
            changes = rec.next_stage(rng, merged, kind, step.date()) if step < end else None
            if changes is None:
                break
            merged.update(changes)
            moment = step
            if changes["application_stage"] == "Validated":
                self._pay_fee(rng, app_id, step)
        if moment > received:
            changed = {k: v for k, v in merged.items() if v != app[k]}
            self._revise("applications", app_id, moment, int(app["officer_id"]), changed)

    # -- one simulated day -------------------------------------------------------------
    def _moment(self, rng: random.Random, day: datetime | date) -> datetime:
        """A random moment in office-ish hours (07:00–22:00) of ``day``."""
        midnight = datetime.combine(day.date() if isinstance(day, datetime) else day, time())
        return midnight + timedelta(seconds=rng.randrange(_OPENS, _CLOSES))

    def _live(self, day: date) -> None:
        rng = self._rng(day.isoformat())
        s = self.scale
        plan = {
            "new_application": s * rng.randint(30, 50),
            "update_application": s * rng.randint(65, 95),
            "cease_application": rng.randint(0, 2 * s),
            "new_enforcement": rng.randint(1, 4 * s),
            "update_enforcement": rng.randint(2, 6 * s),
            "refund_fee": rng.randint(0, s),
            "reverse_payment": int(rng.random() < 0.15),
            "update_user": int(rng.random() < 0.15),
            "new_user": int(rng.random() < 0.05),
            "move_user": int(rng.random() < 0.08),
            "update_lookup": int(rng.random() < 0.05),
        }
        events: list[tuple[datetime, int, str, int]] = []
        for kind, count in plan.items():
            events.extend((self._moment(rng, day), next(self._seq), kind, 0) for _ in range(count))
        heapq.heapify(events)
        while events:
            when, _, kind, rid = heapq.heappop(events)
            follow_up = getattr(self, f"_on_{kind}")(rng, when, rid)
            if follow_up is not None and follow_up[0].date() == day:
                heapq.heappush(events, (follow_up[0], next(self._seq), kind, follow_up[1]))

    def _on_new_application(self, rng: random.Random, when: datetime, _: int) -> None:
        self._new_application(rng, when)

    def _on_update_application(
        self, rng: random.Random, when: datetime, rid: int
    ) -> tuple[datetime, int] | None:
        """Update an application (``rid``, or a picked one when 0); maybe again later today."""
        if rid == 0:
            picked = self._pick(rng, "applications", when)
            if picked is None:
                return None
            rid = picked
        elif not self._can_revise("applications", rid, when):
            return None
        app = self._tables["applications"].latest(rid)
        kind = rec.APPLICATION_TYPES[self._type_ids.index(int(app["application_type_id"]))]
        changes = rec.next_stage(rng, app, kind, when.date()) or rec.tweak(
            rng, app, self._officers, when.date()
        )
        late = rng.random() < LATE_SHARE
        visible_from = None
        if late:
            later = when.date() + timedelta(days=rng.randint(1, 3))
            visible_from = self._moment(rng, later)
        officer = int(changes.get("officer_id") or app["officer_id"])
        self._revise("applications", rid, when, officer, changes, visible_from)
        if changes.get("application_stage") == "Validated":
            self._pay_fee(rng, rid, when)
        if not late and rng.random() < REPEAT_SHARE:
            return when + timedelta(seconds=rng.randint(120, 3 * 3600)), rid
        return None

    def _on_cease_application(self, rng: random.Random, when: datetime, _: int) -> None:
        rid = self._pick(rng, "applications", when, recent=0.5)
        if rid is not None:
            self._cease("applications", rid, when, rng.choice(self._officers))

    def _on_new_enforcement(self, rng: random.Random, when: datetime, _: int) -> None:
        self._new_enforcement(rng, when, 0)

    def _on_update_enforcement(self, rng: random.Random, when: datetime, _: int) -> None:
        rid = self._pick(rng, "enforcements", when, recent=0.6)
        if rid is None:
            return
        case = self._tables["enforcements"].latest(rid)
        stage = rec.ENFORCEMENT_STAGES.index(case["status"])
        if stage + 1 < len(rec.ENFORCEMENT_STAGES):
            status = rec.ENFORCEMENT_STAGES[stage + 1]
            if stage == 1 and rng.random() < 0.4:
                status = "Closed"  # no breach found
            changes = {"status": status}
            if status == "Closed":
                changes["closed_date"] = when.date().isoformat()
        else:
            changes = {"priority": rng.choice(("High", "Medium", "Low"))}
        self._revise("enforcements", rid, when, int(case["officer_id"]), changes)

    def _on_refund_fee(self, rng: random.Random, when: datetime, _: int) -> None:
        rid = self._pick(rng, "fees", when, recent=0.3)
        if rid is not None and self._tables["fees"].latest(rid)["paid"] == "true":
            self._revise("fees", rid, when, rng.choice(self._officers), {"refunded": "true"})

    def _on_reverse_payment(self, rng: random.Random, when: datetime, _: int) -> None:
        rid = self._pick(rng, "fee_payments", when, recent=0.5)
        if rid is not None:
            self._cease("fee_payments", rid, when, rng.choice(self._officers))

    def _on_update_user(self, rng: random.Random, when: datetime, _: int) -> None:
        rid = self._pick(rng, "users", when, recent=0.0)
        if rid is not None and rid != 1:
            changes = {"job_title": rng.choice(rec.JOB_TITLES), "phone": rec.phone(rng)}
            self._revise("users", rid, when, 1, changes)

    def _on_new_user(self, rng: random.Random, when: datetime, _: int) -> None:
        uid = self._insert("users", when, 1, rec.user(rng, len(self._tables["users"].order) + 1))
        self._join_team(rng, uid, when, rng.randint(1, len(rec.TEAMS)))
        self._officers.append(uid)

    def _on_move_user(self, rng: random.Random, when: datetime, _: int) -> None:
        uid = rng.choice(self._officers)
        old = self._team_map_of[uid]
        if not self._can_revise("user_team_map", old, when):
            return
        team = int(self._tables["user_team_map"].latest(old)["user_team_id"])
        self._cease("user_team_map", old, when, 1)
        self._join_team(rng, uid, when, team % len(rec.TEAMS) + 1)

    def _on_update_lookup(self, rng: random.Random, when: datetime, _: int) -> None:
        if rng.random() < 0.5:
            rid = rng.choice(self._type_ids)
            name = self._tables["application_types"].latest(rid)["name"]
            changes = {"description": f"{name} (guidance updated {when.date():%d %B %Y})"}
            table = "application_types"
        else:
            rid, table = rng.choice(self._ward_ids), "wards"
            changes = {"councillors": ", ".join(" ".join(rec.person(rng)) for _ in range(3))}
        if self._can_revise(table, rid, when):
            self._revise(table, rid, when, 1, changes)

    # -- record makers that need the world's ids ---------------------------------------
    def _join_team(self, rng: random.Random, uid: int, when: datetime, team: int) -> None:
        fields = {
            "user_id": str(uid),
            "user_team_id": str(team),
            "start_date": when.date().isoformat(),
        }
        self._team_map_of[uid] = self._insert("user_team_map", when, 1, fields)

    def _new_location(self, rng: random.Random, when: datetime, by: int) -> tuple[int, Record]:
        index = rng.randrange(len(self._ward_ids))
        centre = (531000.0 + (index % 5) * 1600.0, 182000.0 + (index // 5) * 1600.0)
        fields = rec.location(rng, self._ward_ids[index], index, centre)
        return self._insert("dtf_locations", when, by, fields), fields

    def _new_application(self, rng: random.Random, when: datetime) -> int:
        type_index = rec.pick_type(rng)
        kind = rec.APPLICATION_TYPES[type_index]
        officer = rng.choice(self._officers)
        location_id, where = self._new_location(rng, when, officer)
        development = rng.choice(kind.development_types)
        major = development.startswith("Major")
        units = (
            rng.randint(10, 240)
            if major
            else (rng.randint(1, 9) if "dwellings" in development else 0)
        )
        first, last = rec.person(rng)
        applicant_type = rec.weighted(rng, rec.APPLICANT_TYPES)
        fields: Record = {
            "application_reference_number": self._number("", when.year),
            "application_type_id": str(self._type_ids[type_index]),
            "ward_id": where["ward_id"],
            "officer_id": str(officer),
            "dtf_location_id": str(location_id),
            "proposal": rec.proposal(rng, development),
            "application_stage": "Received",
            "development_type": development,
            "decision_type": None,
            "decision_level": None,
            "received_date": when.date().isoformat(),
            "valid_date": None,
            "registration_date": None,
            "target_decision_date": None,
            "consultation_end_date": None,
            "decision_issued_date": None,
            "expiry_date": None,
            "extension_of_time_due_date": None,
            "ppa_decision_due_date": None,
            "site_address": f"{where['address_line_1']}, Riverside",
            "site_postcode": where["postcode"],
            "site_address_x": where["x_coordinate"],
            "site_address_y": where["y_coordinate"],
            "uprn": where["uprn"],
            "number_of_units": str(units),
            "net_floor_area_sqm": f"{rng.uniform(8, 60) * max(units, 1):.1f}",
            "estimated_cost": rec.money(rng.uniform(4_000, 90_000) * max(units, 1)),
            "number_of_public_comments": "0",
            "is_major": rec.yes(major),
            "fee_exempt": rec.yes(kind.fee == 0),
            "ppa_agreed": rec.yes(major and rng.random() < 0.5),
            "extension_of_time_agreed": "false",
            "requires_eia": rec.yes(major and rng.random() < 0.2),
            "public_consultation_required": rec.yes(
                kind.code not in ("LDCP", "LDCE", "NMA", "CON")
            ),
            "listed_building": rec.yes(kind.code == "LBC" or rng.random() < 0.03),
            "conservation_area": rec.yes(kind.code == "TCA" or rng.random() < 0.15),
            "appeal_lodged": "false",
            "applicant_name": f"{first} {last}"
            if applicant_type == "Individual"
            else rng.choice(rec.COMPANIES),
            "applicant_type": applicant_type,
            "agent": rec.agent(rng),
            "gis_map_image_base64": rec.map_image(rng),
        }
        app_id = self._insert("applications", when, officer, fields)
        self._received.append(when)
        if kind.fee > 0:
            fee = kind.fee * (1 + units // 10) if kind.code in ("FUL", "OUT", "RES") else kind.fee
            paid = rng.random() < 0.7
            fee_fields = {
                "application_id": str(app_id),
                "fee_type": "Application fee",
                "fee": rec.money(fee),
                "paid": rec.yes(paid),
                "refunded": "false",
                "due_date": (when.date() + timedelta(days=14)).isoformat(),
            }
            fee_id = self._fee_of[app_id] = self._insert("fees", when, officer, fee_fields)
            if paid:
                self._payments(rng, fee_id, fee, when, officer)
        return app_id

    def _pay_fee(self, rng: random.Random, app_id: int, when: datetime) -> None:
        """Pay an application's fee in full if it is still unpaid (on validation)."""
        fee_id = self._fee_of.get(app_id)
        if fee_id is None:
            return
        fee = self._tables["fees"].latest(fee_id)
        if fee["paid"] == "true" or not self._can_revise("fees", fee_id, when):
            return
        by = int(fee["creation_user_id"])
        self._payments(rng, fee_id, float(fee["fee"]), when, by)
        self._revise("fees", fee_id, when, by, {"paid": "true"})

    def _payments(
        self, rng: random.Random, fee_id: int, total: float, when: datetime, by: int
    ) -> None:
        """One payment of ``total``, or (one time in ten) two halves."""
        half = round(total / 2, 2)
        for part in [total] if rng.random() < 0.9 else [half, total - half]:
            payment = {
                "fee_id": str(fee_id),
                "amount_paid": rec.money(part),
                "payment_date": when.date().isoformat(),
                "payment_method": rec.weighted(rng, rec.PAYMENT_METHODS),
                "receipt_number": f"RCP{rng.randrange(10**8):08d}",
            }
            self._insert("fee_payments", when, by, payment)

    def _new_enforcement(self, rng: random.Random, when: datetime, _: int) -> int:
        officer = rng.choice(self._officers)
        application_id = None
        known = bisect.bisect_left(self._received, when)
        if known and rng.random() < 0.4:
            application_id = rng.randrange(known) + 1
            app = self._tables["applications"].by_id[application_id][0][1]
            location_id, ward_id = int(app["dtf_location_id"]), app["ward_id"]
        else:
            location_id, where = self._new_location(rng, when, officer)
            ward_id = where["ward_id"]
        fields = {
            "reference_number": self._number("ENF/", when.year),
            "application_id": None if application_id is None else str(application_id),
            "ward_id": ward_id,
            "officer_id": str(officer),
            "dtf_location_id": str(location_id),
            "breach_type": rng.choice(rec.BREACHES),
            "priority": rng.choice(("High", "Medium", "Low")),
            "status": "Received",
            "received_date": when.date().isoformat(),
            "closed_date": None,
            "description": "Reported by a member of the public",
        }
        return self._insert("enforcements", when, officer, fields)
