"""What the simulated planning system's records contain.

The lookup lists (wards, teams, application types) and the functions that make
field values live here, apart from :mod:`.world`, so the world reads as a list
of events and this module as a description of the data. Every value made here
is a string (or ``None``) because that is how the real API sends them: numbers
as ``"258.00"``, booleans as ``"true"``/``"false"``, dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from civiclake.simulators.borough import (
    FIRST_NAMES,
    LAST_NAMES,
    STREET_TYPES,
    STREET_WORDS,
)

Record = dict[str, Any]


COMPANIES = (
    "Riverside Planning Ltd", "Northbank Architects", "Lockside Design LLP",
    "Harbour Surveyors", "Greenleaf Consulting", "Urban Form Studio", "Keystone Planning",
)  # fmt: skip
TEAMS = (
    ("HHT", "Householder team", "Householder and minor applications"),
    ("MAJ", "Major applications", "Major developments and planning performance agreements"),
    ("MIN", "Minor applications", "Minor dwellings, offices and changes of use"),
    ("ENF", "Enforcement", "Breaches of planning control"),
    ("VAL", "Validation", "Registers and validates new applications"),
    ("TAC", "Trees and conservation", "Tree works, listed buildings, conservation areas"),
)
JOB_TITLES = (
    "Planning Officer", "Senior Planning Officer", "Principal Planning Officer",
    "Enforcement Officer", "Technical Support Officer", "Tree Officer", "Team Leader",
)  # fmt: skip


@dataclass(frozen=True)
class AppType:
    """One application type: its code, name, statutory weeks, fee and how common it is."""

    code: str
    name: str
    weeks: int
    fee: float
    weight: int
    development_types: tuple[str, ...]


APPLICATION_TYPES = (
    AppType("HHA", "Householder", 8, 258.0, 38, ("Householder",)),
    AppType("FUL", "Full planning permission", 8, 578.0, 18,
            ("Minor dwellings", "Major dwellings", "Minor offices", "Change of use")),
    AppType("LBC", "Listed building consent", 8, 0.0, 4, ("Listed building",)),
    AppType("ADV", "Advertisement consent", 8, 165.0, 5, ("Advertisements",)),
    AppType("PA", "Prior approval", 8, 120.0, 6, ("Change of use", "Householder")),
    AppType("LDCP", "Lawful development certificate (proposed)", 8, 129.0, 7, ("Householder",)),
    AppType("LDCE", "Lawful development certificate (existing)", 8, 578.0, 2, ("Other",)),
    AppType("TPO", "Works to protected trees", 8, 0.0, 5, ("Trees",)),
    AppType("TCA", "Trees in a conservation area", 6, 0.0, 4, ("Trees",)),
    AppType("CON", "Approval of details reserved by condition", 8, 145.0, 6, ("Other",)),
    AppType("NMA", "Non-material amendment", 4, 293.0, 3, ("Other",)),
    AppType("OUT", "Outline planning permission", 13, 578.0, 1, ("Major dwellings",)),
    AppType("RES", "Reserved matters", 13, 578.0, 1, ("Major dwellings", "Minor dwellings")),
)  # fmt: skip

PROPOSALS = {
    "Householder": (
        "Erection of a single storey rear extension",
        "Loft conversion with rear dormer and {n} front rooflights",
        "Erection of a two storey side extension",
        "Replacement of {n} timber windows with double glazed units",
        "Installation of {n} solar panels on the rear roof slope",
        "Demolition of garage and erection of a garden room",
    ),
    "Minor dwellings": (
        "Conversion of a single dwelling into {n} self-contained flats",
        "Erection of a terrace of {n} dwellings with cycle parking",
    ),
    "Major dwellings": (
        "Redevelopment of the site to provide {n0} homes, {n}% affordable, with landscaping",
        "Erection of a {n} storey building with {n0} residential units and ground floor retail",
    ),
    "Minor offices": ("Change of use of the ground floor to offices (Class E) with {n} desks",),
    "Change of use": (
        "Change of use from retail (Class E) to a café with {n} covers",
        "Change of use of a house in multiple occupation to {n} flats",
    ),
    "Listed building": ("Internal alterations and repair of {n} sash windows",),
    "Advertisements": ("Display of {n} internally illuminated fascia signs",),
    "Trees": ("Crown reduction of {n} London plane trees by 2m", "Felling of {n} ash trees"),
    "Other": (
        "Details pursuant to condition {n} (materials) of a previous permission",
        "Minor amendment to approved plans: {n} window positions",
    ),
}
DECISIONS = (("Granted", 52), ("Granted with conditions", 31), ("Refused", 13), ("Split", 4))
APPLICANT_TYPES = (("Individual", 70), ("Company", 22), ("Charity", 3), ("Public body", 5))
PROPERTY_TYPES = (("House", 50), ("Flat", 35), ("Commercial", 12), ("Land", 3))
BREACHES = (
    "Unauthorised extension", "Change of use without permission", "Unauthorised advertisement",
    "Works to a listed building", "Untidy land (s215)", "Breach of condition",
    "Works to protected trees", "Unauthorised HMO",
)  # fmt: skip
ENFORCEMENT_STAGES = ("Received", "Investigating", "Breach confirmed", "Notice served", "Closed")
PAYMENT_METHODS = (("Card", 70), ("BACS", 25), ("Cheque", 5))

_PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06"


def yes(flag: bool) -> str:
    """A boolean as the API spells it."""
    return "true" if flag else "false"


def money(value: float) -> str:
    return f"{value:.2f}"


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def pick_type(rng: random.Random) -> int:
    """Index into :data:`APPLICATION_TYPES`, by how common each type is."""
    weights = [t.weight for t in APPLICATION_TYPES]
    return rng.choices(range(len(APPLICATION_TYPES)), weights=weights)[0]


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def phone(rng: random.Random) -> str:
    return f"020 7{rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def email(first: str, last: str, domain: str) -> str:
    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    return f"{local}@{domain}"


def map_image(rng: random.Random) -> str:
    """A few hundred characters of base64, shaped like the start of a PNG."""
    return base64.b64encode(_PNG_HEADER + rng.randbytes(rng.randint(200, 280))).decode()


def agent(rng: random.Random) -> Record | None:
    """The applicant's agent (about four in five applications have one)."""
    if rng.random() < 0.2:
        return None
    first, last = person(rng)
    company = rng.choice(COMPANIES)
    domain = company.lower().split()[0] + ".example"
    return {
        "name": f"{first} {last}",
        "company": company,
        "email": email(first, last, domain),
        "phone": phone(rng),
    }


def proposal(rng: random.Random, development_type: str) -> str:
    template = rng.choice(PROPOSALS[development_type])
    return template.format(n=rng.randint(2, 9), n0=rng.randint(12, 240))


def user(rng: random.Random, user_id: int) -> Record:
    if user_id == 1:
        first, last, title = "System", "Administrator", "System account"
    else:
        (first, last), title = person(rng), rng.choice(JOB_TITLES)
    return {
        "username": f"{first[0]}{last}{user_id}".lower().replace("'", ""),
        "first_name": first,
        "last_name": last,
        "email": email(first, last, "riverside.gov.example"),
        "job_title": title,
        "phone": phone(rng),
        "active": "true",
    }


def location(
    rng: random.Random, ward_id: int, ward_index: int, centre: tuple[float, float]
) -> Record:
    """A gazetteer location (``dtf_locations`` row) in the given ward."""
    kind = weighted(rng, PROPERTY_TYPES)
    street = f"{rng.choice(STREET_WORDS)} {rng.choice(STREET_TYPES)}"
    number = rng.randint(1, 180)
    line_1 = (
        f"Flat {rng.randint(1, 60)}, {number} {street}" if kind == "Flat" else f"{number} {street}"
    )
    tail = "".join(rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
    return {
        "uprn": str(100020000000 + rng.randrange(10_000_000_000)),
        "usrn": str(20500000 + rng.randrange(100_000)),
        "parent_uprn": str(100020000000 + rng.randrange(10_000_000)) if kind == "Flat" else None,
        "address_line_1": line_1,
        "town": "Riverside",
        "postcode": f"RV{ward_index // 2 + 1} {rng.randint(1, 9)}{tail}",
        "ward_id": str(ward_id),
        "property_type": kind,
        "x_coordinate": f"{centre[0] + rng.uniform(-700, 700):.2f}",
        "y_coordinate": f"{centre[1] + rng.uniform(-700, 700):.2f}",
    }


def date_str(day: date | None) -> str | None:
    return day.isoformat() if day else None


def parse_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def next_stage(rng: random.Random, app: Record, kind: AppType, day: date) -> Record | None:
    """The changes that move an application one stage on, or ``None`` once it is decided.

    Received → (Invalid →) Validated → Consultation → Assessment → Decision issued.
    """
    stage = app["application_stage"]
    if stage == "Received" and rng.random() < 0.1:
        return {"application_stage": "Invalid"}
    if stage in ("Received", "Invalid"):
        target = day + timedelta(weeks=kind.weeks)
        changes: Record = {
            "application_stage": "Validated",
            "valid_date": date_str(day),
            "registration_date": date_str(day + timedelta(days=rng.randint(0, 2))),
            "target_decision_date": date_str(target),
        }
        if app["ppa_agreed"] == "true":
            changes["ppa_decision_due_date"] = date_str(target + timedelta(weeks=8))
        return changes
    if stage == "Validated":
        if app["public_consultation_required"] == "true":
            end = day + timedelta(days=21)
            return {"application_stage": "Consultation", "consultation_end_date": date_str(end)}
        return {"application_stage": "Assessment"}
    if stage == "Consultation":
        comments = int(app["number_of_public_comments"]) + rng.randint(0, 12)
        return {"application_stage": "Assessment", "number_of_public_comments": str(comments)}
    if stage == "Assessment":
        decision = weighted(rng, DECISIONS)
        granted = decision.startswith("Granted")
        return {
            "application_stage": "Decision issued",
            "decision_type": decision,
            "decision_level": "Committee" if app["is_major"] == "true" else "Delegated",
            "decision_issued_date": date_str(day),
            "expiry_date": date_str(day + timedelta(days=3 * 365)) if granted else None,
        }
    return None


def tweak(rng: random.Random, app: Record, officers: list[int], day: date) -> Record:
    """A change that does not move the stage: what most day-to-day edits look like."""
    roll = rng.random()
    decided = app["application_stage"] == "Decision issued"
    if roll < 0.3:
        return {"officer_id": str(rng.choice(officers))}
    if roll < 0.55:
        count = int(app["number_of_public_comments"]) + rng.randint(1, 5)
        return {"number_of_public_comments": str(count)}
    if roll < 0.7 and not decided:
        due = parse_date(app["target_decision_date"]) or day
        return {
            "extension_of_time_agreed": "true",
            "extension_of_time_due_date": date_str(due + timedelta(days=rng.choice((14, 28, 42)))),
        }
    if roll < 0.8 and decided and app["decision_type"] == "Refused":
        return {"appeal_lodged": "true"}
    if roll < 0.9 and app["agent"] is not None:
        return {"agent": {**app["agent"], "phone": phone(rng)}}
    return {"proposal": app["proposal"].removesuffix(" (amended plans)") + " (amended plans)"}
