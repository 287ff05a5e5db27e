"""A seeded housing world: tenures, their households, and contact details, changing over time.

:meth:`HousingWorld.events` plays the world forward and returns the change
events in the order they happened — new tenures, updates (charges, payment
reference, a person joining or leaving the household), terminations, and
contact details added, edited and removed. Each event carries the entity as it
stands after the change, in the envelope of source-systems.md §2, with dates
as Unix seconds.

:func:`deliveries` turns those events into what a broker would actually
deliver: some events re-delivered (the same bytes twice), some delivered late
(after later events of the same entity), a few poison messages (bytes that are
neither Avro nor JSON), and — from ``schema_change_at`` on — tenure events
written with the second schema version, which adds an optional field.

The world keeps its ground truth (:class:`Truth`): every distinct event, and
the latest state of every tenure and contact detail, so tests compare what a
pipeline loaded with what happened.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from civiclake.simulators.borough import FIRST_NAMES, LAST_NAMES, STREET_TYPES, STREET_WORDS
from civiclake.simulators.housing.schemas import ADDED_FIELD, CONTACT_TOPIC, TENURE_TOPIC

Event = dict[str, Any]
TENURE_TYPES = (
    ("SEC", "Secure"),
    ("INT", "Introductory"),
    ("NON", "Non-Secure"),
    ("TLA", "Temporary Accommodation"),
    ("LEA", "Leasehold (RTB)"),
)
TERMINATION_REASONS = ("Deceased", "Moved out", "Eviction", "Transfer", "Surrender")


@dataclass(frozen=True)
class Delivery:
    """One message as a broker would deliver it."""

    topic: str
    key: str | None
    event: Event | None
    """None for a poison message."""
    poison: bytes = b""
    schema_version: int = 1
    """Tenure events: 1, or 2 once the schema change has happened (it adds an optional field)."""


@dataclass
class Truth:
    """What happened, for comparing with what a pipeline loaded."""

    events: dict[str, Event] = field(default_factory=dict)
    """Every distinct event by its ``Id``."""

    def latest(self, topic: str) -> dict[tuple[str, ...], Event]:
        """The newest event of each entity of ``topic`` (tenure id; contact target and id)."""
        newest: dict[tuple[str, ...], Event] = {}
        for event in self.events.values():
            key = entity_key(event)
            if event_topic(event) != topic:
                continue
            if key not in newest or event["DateTime"] > newest[key]["DateTime"]:
                newest[key] = event
        return newest

    def tenures(self, *, include_terminated: bool = True) -> dict[str, Event]:
        """The tenure payload of each tenure's latest event."""
        found = {k[0]: e["Tenure"] for k, e in self.latest(TENURE_TOPIC).items()}
        if include_terminated:
            return found
        return {k: t for k, t in found.items() if not t["Terminated"]["IsTerminated"]}


def event_topic(event: Event) -> str:
    return TENURE_TOPIC if "Tenure" in event else CONTACT_TOPIC


def entity_key(event: Event) -> tuple[str, ...]:
    if "Tenure" in event:
        return (event["Tenure"]["Id"],)
    details = event["ContactDetails"]
    return (details["TargetId"], details["Id"])


class HousingWorld:
    """Tenures and contact details of the borough's council homes, from a seed."""

    def __init__(self, seed: int = 7, *, start: datetime | None = None, padding: int = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._clock = int((start or datetime(2026, 1, 1, tzinfo=UTC)).timestamp())
        self._padding = padding
        self._tenures: dict[str, dict[str, Any]] = {}
        self._live: list[str] = []
        self._contacts: dict[tuple[str, str], dict[str, Any]] = {}
        self._people: list[str] = []
        self._uprn = 100_021_000_000
        self._payment = 1_900_000_000

    # -- identities ---------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _person(self, responsible: bool) -> dict[str, Any]:
        rng = self._rng
        person_id = self._uuid()
        self._people.append(person_id)
        born = self._clock - rng.randint(18 * 365, 90 * 365) * 86_400
        return {
            "Id": person_id,
            "FullName": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "IsResponsible": responsible,
            "DateOfBirth": born if responsible else born + rng.randint(0, 40 * 365) * 86_400,
            "PersonTenureType": "Tenant" if responsible else "HouseholdMember",
        }

    def _charges(self) -> dict[str, float]:
        rng = self._rng
        rent = round(rng.uniform(90, 260), 2)
        service = round(rng.uniform(5, 40), 2)
        return {
            "Rent": rent,
            "ServiceCharge": service,
            "OtherCharges": round(rng.uniform(0, 10), 2),
            "CombinedServiceCharges": service,
            "CombinedRentCharges": rent,
            "TenancyInsuranceCharge": round(rng.uniform(0, 5), 2),
            "OriginalRentCharge": rent,
            "OriginalServiceCharge": service,
        }

    def _new_tenure(self) -> dict[str, Any]:
        rng = self._rng
        self._uprn += rng.randint(1, 40)
        self._payment += rng.randint(1, 9)
        code, description = rng.choice(TENURE_TYPES)
        members = [self._person(True)] + [self._person(False) for _ in range(rng.randint(0, 3))]
        street = f"{rng.choice(STREET_WORDS)} {rng.choice(STREET_TYPES)}"
        legacy = [{"Name": "uh_tag_ref", "Value": f"{rng.randint(10_000, 99_999):06d}/01"}]
        if self._padding:
            legacy.append({"Name": "notes", "Value": "x" * self._padding})
        return {
            "Id": self._uuid(),
            "PaymentReference": str(self._payment),
            "HouseholdMembers": members,
            "TenuredAsset": {
                "Id": self._uuid(),
                "AssetType": rng.choice(("Dwelling", "LettableNonDwelling", "Block")),
                "FullAddress": f"Flat {rng.randint(1, 80)}, {rng.randint(1, 200)} {street}, "
                f"Riverside RV{rng.randint(1, 9)} {rng.randint(1, 9)}AB",
                "Uprn": str(self._uprn),
                "PropertyReference": f"{rng.randint(0, 99_999_999):08d}",
            },
            "Charges": self._charges() if rng.random() < 0.9 else None,
            "StartOfTenureDate": self._clock - rng.randint(0, 3_650) * 86_400,
            "EndOfTenureDate": None,
            "TenureType": {"Code": code, "Description": description},
            "IsActive": True,
            "Terminated": {"IsTerminated": False, "ReasonForTermination": None},
            "Notices": [],
            "LegacyReferences": legacy,
        }

    def _envelope(self, event_type: str, domain: str, payload_name: str, payload: Any) -> Event:
        rng = self._rng
        self._clock += rng.randint(1, 90)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES).lower()
        return {
            "Id": self._uuid(),
            "EventType": event_type,
            "SourceDomain": domain,
            "SourceSystem": "ManageMyHome",
            "Version": "v1",
            "CorrelationId": self._uuid(),
            "DateTime": self._clock,
            "User": {"Name": f"{first} {last}", "Email": f"{first}.{last}@riverside.gov.uk"},
            payload_name: copy.deepcopy(payload),
        }

    # -- playing forward ----------------------------------------------------------------
    def events(self, count: int, *, contact_share: float = 0.25) -> list[Event]:
        """The next ``count`` events, in the order they happened."""
        return [self._step(contact_share) for _ in range(count)]

    def _step(self, contact_share: float) -> Event:
        rng = self._rng
        if self._people and rng.random() < contact_share:
            return self._contact_event()
        roll = rng.random()
        if len(self._live) < 20 or roll < 0.25:
            tenure = self._new_tenure()
            self._tenures[tenure["Id"]] = tenure
            self._live.append(tenure["Id"])
            return self._envelope("TenureCreatedEvent", "Tenure", "Tenure", tenure)
        tenure_id = rng.choice(self._live)
        tenure = self._tenures[tenure_id]
        if roll < 0.9:
            self._update(tenure)
            return self._envelope("TenureUpdatedEvent", "Tenure", "Tenure", tenure)
        tenure["Terminated"] = {
            "IsTerminated": True,
            "ReasonForTermination": rng.choice(TERMINATION_REASONS),
        }
        tenure["IsActive"] = False
        tenure["EndOfTenureDate"] = self._clock
        self._live.remove(tenure_id)
        return self._envelope("TenureUpdatedEvent", "Tenure", "Tenure", tenure)

    def _update(self, tenure: dict[str, Any]) -> None:
        rng = self._rng
        what = rng.random()
        members = tenure["HouseholdMembers"]
        if what < 0.3:
            members.append(self._person(False))
        elif what < 0.5 and len(members) > 1:
            members.pop(rng.randrange(1, len(members)))
        elif what < 0.8:
            tenure["Charges"] = self._charges()
        elif what < 0.9:
            tenure["Notices"] = [
                {
                    "Type": rng.choice(("NoticeToQuit", "NoticeOfSeekingPossession")),
                    "ServedDate": self._clock,
                    "ExpiryDate": self._clock + 28 * 86_400,
                }
            ]
        else:
            self._payment += 1
            tenure["PaymentReference"] = str(self._payment)

    def _contact_event(self) -> Event:
        rng = self._rng
        existing = list(self._contacts)
        if existing and rng.random() < 0.5:
            key = rng.choice(existing)
            details = self._contacts[key]
            if rng.random() < 0.3:
                details["IsActive"] = False
                del self._contacts[key]
                return self._envelope(
                    "ContactDetailDeletedEvent", "ContactDetails", "ContactDetails", details
                )
            details["ContactInformation"]["Value"] = self._contact_value(
                details["ContactInformation"]["ContactType"]
            )
            return self._envelope(
                "ContactDetailEditedEvent", "ContactDetails", "ContactDetails", details
            )
        kind = rng.choice(("phone", "email", "address"))
        details = {
            "Id": self._uuid(),
            "TargetId": rng.choice(self._people),
            "TargetType": "person",
            "ContactInformation": {
                "ContactType": kind,
                "SubType": rng.choice((None, "mobile", "home", "work")),
                "Value": self._contact_value(kind),
                "Description": None,
                "AddressExtended": (
                    {"Uprn": str(self._uprn), "IsOverseasAddress": False}
                    if kind == "address"
                    else None
                ),
            },
            "IsActive": True,
            "CreatedBy": rng.choice(FIRST_NAMES),
        }
        self._contacts[(details["TargetId"], details["Id"])] = details
        return self._envelope(
            "ContactDetailAddedEvent", "ContactDetails", "ContactDetails", details
        )

    def _contact_value(self, kind: str) -> str:
        rng = self._rng
        if kind == "phone":
            return f"07{rng.randint(100_000_000, 999_999_999)}"
        if kind == "email":
            return f"{rng.choice(FIRST_NAMES)}{rng.randint(1, 999)}@example.org".lower()
        return f"{rng.randint(1, 200)} {rng.choice(STREET_WORDS)} {rng.choice(STREET_TYPES)}"


def deliveries(
    events: list[Event],
    *,
    seed: int = 7,
    duplicate_rate: float = 0.03,
    late_rate: float = 0.03,
    poison: int = 3,
    schema_change_at: float | None = 0.5,
) -> tuple[list[Delivery], Truth]:
    """What a broker delivers for ``events``, and the ground truth.

    ``schema_change_at`` is the share of the stream after which tenure events
    carry the added optional field (None: never).
    """
    rng = random.Random(seed * 7919 + 1)
    change = None if schema_change_at is None else int(len(events) * schema_change_at)
    out: list[Delivery] = []
    truth = Truth()
    for n, event in enumerate(events):
        version = 1
        if "Tenure" in event and change is not None and n >= change:
            version = 2
            event["Tenure"][ADDED_FIELD] = rng.choice((True, False, None))
        truth.events[event["Id"]] = event
        key = entity_key(event)[0]
        out.append(Delivery(event_topic(event), key, event, schema_version=version))
    for i in range(len(out) - 2, -1, -1):  # late: an event moves behind later ones
        if rng.random() < late_rate:
            j = min(len(out) - 1, i + rng.randint(1, 20))
            out.insert(j, out.pop(i))
    for i in range(len(out) - 1, -1, -1):  # re-delivered: the same message again, later
        if rng.random() < duplicate_rate:
            out.insert(min(len(out), i + rng.randint(1, 30)), out[i])
    for _ in range(poison):
        topic = rng.choice((TENURE_TOPIC, CONTACT_TOPIC))
        junk = rng.choice(
            (
                b"\x00\x00\x00\x7f\xffnot a schema id",  # framing with an unknown schema id
                b"{not json at all",
                bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40))),
            )
        )
        out.insert(rng.randrange(len(out) + 1), Delivery(topic, None, None, poison=junk))
    return out, truth


__all__ = ["Delivery", "Event", "HousingWorld", "Truth", "deliveries", "entity_key", "event_topic"]
