"""Generated landing files for the demo council, the fictional Borough of Riverside.

:func:`generate` writes what a council's systems would drop into landing
folders, laid out as ``<landing>/<department>/<source>/<file>``:

* ``unrestricted/wards/wards.csv`` — 20 wards with population and area;
* ``unrestricted/bank_holidays/bank_holidays.csv`` — the shipped reference file;
* ``housing/rent_accounts/rent_accounts_YYYY-MM.csv`` — a monthly rent-account
  export (~4,000 tenancies) with an export's messy headers; the last month
  holds exactly two bad rows so the demo shows a ``__rejected`` table;
* ``parking/permits/permits_YYYY-MM.xlsx`` — a monthly permits workbook
  (~1,500 rows, sheet ``Permits``) with real Excel dates.

Everything comes from one :class:`random.Random` seeded by ``seed``, so the same
seed writes byte-identical files (Excel archives get fixed timestamps too).
The months end with :data:`LAST_MONTH`, so the demo looks the same whenever it
is run. Ward codes are shared by every file, so joins match.
"""

from __future__ import annotations

import calendar
import csv
import io
import random
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from civiclake.simulators.borough import (
    FIRST_NAMES,
    LAST_NAMES,
    STREET_TYPES,
    STREET_WORDS,
    WARD_NAMES,
)

LAST_MONTH = (2026, 10)
"""The newest monthly export; ``months`` counts back from here."""

RENT_HEADER = (
    "Tenancy Ref",
    "Tenant Name",
    "Property Address",
    "Ward Code",
    "Weekly Rent (£)",
    "Balance (£)",
    "Last Payment Date",
    "Tenure Type",
    "Arrears Flag",
    "Date de Début",
)
PERMIT_HEADER = (
    "Permit Number",
    "Permit Type",
    "Vehicle Registration",
    "Ward Code",
    "Issue Date",
    "Expiry Date",
    "Fee (£)",
    "Status",
    "Holder Name",
)
WARD_HEADER = ("Ward Code", "Ward Name", "Population", "Area (hectares)")
PERMITS_SHEET = "Permits"
BAD_RENT_ROWS = 2
"""Bad rows in the last month's rent export: a text balance and a ragged row."""

BLOCK_TYPES = ("House", "Court", "Point", "Lodge", "Tower")
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
"""Letters used at the end of real UK postcodes (no C, I, K, M, O, V)."""
PLATE_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"
"""Letters on current-format UK number plates (no I, Q, Z)."""

TENURES = (("Secure", 70), ("Introductory", 8), ("Flexible", 7), ("Temporary", 10), ("Licence", 5))
PAYERS = (("steady", 70), ("late", 15), ("struggling", 10), ("none", 5))
PERMIT_TYPES = (("Resident", 62), ("Business", 10), ("Visitor", 18), ("Doctor", 3), ("Carer", 7))
PERMIT_FEES = {
    "Resident": (80.0, 120.0, 165.5, 210.0),
    "Business": (450.0, 650.0),
    "Visitor": (25.0,),
    "Doctor": (250.0,),
    "Carer": (0.0,),
}
PERMIT_DAYS = {"Resident": 365, "Business": 365, "Visitor": 90, "Doctor": 365, "Carer": 365}

_TENANCIES = 4000
_PERMITS_PER_MONTH = 125
_PERMIT_HISTORY_MONTHS = 15
_LISTED_AFTER_EXPIRY = timedelta(days=60)


@dataclass(frozen=True)
class Ward:
    """One electoral ward, with the postcode district its streets use."""

    code: str
    name: str
    population: int
    area: float
    district: int
    streets: tuple[str, ...]
    blocks: tuple[str, ...]


@dataclass
class Tenancy:
    """A council tenancy whose balance moves from month to month."""

    ref: str
    name: str
    address: str
    ward: str
    weekly_rent: float
    tenure: str
    start: date
    payer: str
    balance: float
    last_payment: date | None


@dataclass
class Permit:
    """A parking permit; its status in an export depends on the export's date."""

    number: str
    type: str
    plate: str
    ward: str
    issued: date
    expires: date
    fee: float
    holder: str
    cancelled: date | None


def generate(landing: Path, *, seed: int = 2026, months: int = 3) -> dict[str, list[Path]]:
    """Write the demo's landing files under ``landing``; returns paths by ``department/source``.

    ``months`` monthly rent and permit exports are written, ending with
    :data:`LAST_MONTH`. The same ``seed`` always writes byte-identical files.
    """
    if months < 1:
        raise ValueError(f"months must be at least 1, not {months}")
    rng = random.Random(seed)
    periods = _months(months)
    wards = _wards(rng)
    return {
        "unrestricted/ward_register": [
            _write_wards(landing / "unrestricted" / "ward_register", wards)
        ],
        "unrestricted/bank_holiday_calendar": [
            _write_bank_holidays(landing / "unrestricted" / "bank_holiday_calendar")
        ],
        "housing/rent_exports": _write_rent_accounts(
            landing / "housing" / "rent_exports", rng, wards, periods
        ),
        "parking/permit_exports": _write_permits(
            landing / "parking" / "permit_exports", rng, wards, periods
        ),
    }


# -- calendar ------------------------------------------------------------------------------
def _months(count: int, *, before: int = 0) -> list[tuple[int, int]]:
    """``count`` (year, month) pairs ending ``before`` months ahead of :data:`LAST_MONTH`."""
    year, month = LAST_MONTH
    last = year * 12 + month - 1 - before
    return [(i // 12, i % 12 + 1) for i in range(last - count + 1, last + 1)]


def _month_start(period: tuple[int, int]) -> date:
    return date(period[0], period[1], 1)


def _month_end(period: tuple[int, int]) -> date:
    return date(period[0], period[1], calendar.monthrange(*period)[1])


def _label(period: tuple[int, int]) -> str:
    return f"{period[0]:04d}-{period[1]:02d}"


def _day_between(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, max((last - first).days, 0)))


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


# -- people and places -------------------------------------------------------------------
def _wards(rng: random.Random) -> list[Ward]:
    wards = []
    for i, name in enumerate(WARD_NAMES, start=1):
        words = rng.sample(STREET_WORDS, 6)
        streets = tuple(f"{w} {rng.choice(STREET_TYPES)}" for w in words)
        blocks = tuple(f"{w} {rng.choice(BLOCK_TYPES)}" for w in rng.sample(STREET_WORDS, 3))
        wards.append(
            Ward(
                code=f"RV{i:02d}",
                name=name,
                population=rng.randint(9000, 17500),
                area=round(rng.uniform(80, 450), 2),
                district=(i - 1) // 2 + 1,
                streets=streets,
                blocks=blocks,
            )
        )
    return wards


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _postcode(rng: random.Random, ward: Ward) -> str:
    tail = "".join(rng.choice(POSTCODE_LETTERS) for _ in range(2))
    return f"RV{ward.district} {rng.randint(1, 9)}{tail}"


def _address(rng: random.Random, ward: Ward) -> str:
    street = rng.choice(ward.streets)
    if rng.random() < 0.6:
        block = rng.choice(ward.blocks)
        home = f"Flat {rng.randint(1, 96)}, {block}, {street}"
    else:
        home = f"{rng.randint(1, 180)} {street}"
    return f"{home}, Riverside {_postcode(rng, ward)}"


def _plate(rng: random.Random) -> str:
    letters = "".join(rng.choice(PLATE_LETTERS) for _ in range(5))
    age = rng.choice((15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26))
    age += rng.choice((0, 50))
    return f"{letters[:2]}{age:02d} {letters[2:]}"


# -- wards and bank holidays -------------------------------------------------------------
def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _write_wards(folder: Path, wards: list[Ward]) -> Path:
    rows = [[w.code, w.name, str(w.population), f"{w.area:.2f}"] for w in wards]
    return _write_csv(folder / "wards.csv", WARD_HEADER, rows)


def _write_bank_holidays(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = resources.files("civiclake.demo").joinpath("reference", "bank_holidays.csv")
    path = folder / "bank_holidays.csv"
    path.write_bytes(source.read_bytes())
    return path


# -- housing: rent accounts --------------------------------------------------------------
def _new_tenancy(
    rng: random.Random, ref: int, wards: list[Ward], start: date, since: date, *, new: bool
) -> Tenancy:
    """A tenancy starting on ``start``.

    An existing one (``new=False``) already has a balance and a payment before
    ``since``, the first export's first day; a new one starts at zero, unpaid.
    """
    ward = rng.choice(wards)
    tenure = _weighted(rng, TENURES)
    if new and tenure == "Secure":
        tenure = "Introductory"  # new council tenants start on an introductory tenancy
    bedrooms = rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4))
    rent = 98 + 19 * bedrooms + rng.uniform(-6, 9) + (90 if tenure == "Temporary" else 0)
    payer = _weighted(rng, PAYERS)
    low, high = {"steady": (-180, 25), "late": (0, 600), "struggling": (200, 2500)}.get(
        payer, (800, 6000)
    )
    balance = 0.0 if new else round(rng.uniform(low, high), 2)
    if new:
        last_payment = None
    else:  # before the first export: long ago for those who stopped paying
        days_ago = rng.randint(30, 400) if payer == "none" else rng.randint(1, 28)
        last_payment = max(start, since - timedelta(days=days_ago))
    return Tenancy(
        ref=f"TEN{ref:06d}",
        name=_person(rng),
        address=_address(rng, ward),
        ward=ward.code,
        weekly_rent=round(rent, 2),
        tenure=tenure,
        start=start,
        payer=payer,
        balance=balance,
        last_payment=last_payment,
    )


def _pay_month(rng: random.Random, t: Tenancy, first: date, last: date) -> None:
    """Charge one month's rent and take whatever this tenant pays."""
    charge = t.weekly_rent * 52 / 12
    share = {
        "steady": rng.uniform(0.97, 1.05),
        "late": 0.0 if rng.random() < 0.3 else rng.uniform(1.0, 1.4),
        "struggling": 0.0 if rng.random() < 0.2 else rng.uniform(0.4, 0.9),
        "none": 0.0 if rng.random() < 0.7 else rng.uniform(0.1, 0.5),
    }[t.payer]
    t.balance = round(t.balance + charge - charge * share, 2)
    if share > 0:
        t.last_payment = _day_between(rng, max(first, t.start), last)


def _rent_row(rng: random.Random, t: Tenancy) -> list[str]:
    ward = t.ward
    if rng.random() < 0.03:
        ward = ward.lower()  # keyed in by hand somewhere upstream
    elif rng.random() < 0.02:
        ward = f"{ward} "
    tenure = t.tenure.upper() if rng.random() < 0.02 else t.tenure
    return [
        t.ref,
        t.name,
        t.address,
        ward,
        f"{t.weekly_rent:.2f}",
        f"{t.balance:.2f}",
        t.last_payment.isoformat() if t.last_payment else "",
        tenure,
        "Y" if t.balance >= t.weekly_rent else "N",
        t.start.isoformat(),
    ]


def _write_rent_accounts(
    folder: Path, rng: random.Random, wards: list[Ward], periods: list[tuple[int, int]]
) -> list[Path]:
    first_day = _month_start(periods[0])
    next_ref = 100001
    tenancies: list[Tenancy] = []
    for _ in range(_TENANCIES):
        start = _day_between(rng, date(1988, 1, 1), first_day - timedelta(days=1))
        tenancies.append(_new_tenancy(rng, next_ref, wards, start, first_day, new=False))
        next_ref += rng.randint(1, 3)
    tenancies.sort(key=lambda t: t.start)
    paths = []
    for n, period in enumerate(periods):
        first, last = _month_start(period), _month_end(period)
        tenancies = [t for t in tenancies if rng.random() > 0.007]  # moved out last month
        for _ in range(rng.randint(22, 38)):
            tenancies.append(
                _new_tenancy(rng, next_ref, wards, _day_between(rng, first, last), first, new=True)
            )
            next_ref += rng.randint(1, 3)
        for t in tenancies:
            _pay_month(rng, t, first, last)
        rows = [_rent_row(rng, t) for t in sorted(tenancies, key=lambda t: t.ref)]
        if n == len(periods) - 1:
            _spoil(rng, rows)
        paths.append(_write_csv(folder / f"rent_accounts_{_label(period)}.csv", RENT_HEADER, rows))
    return paths


def _spoil(rng: random.Random, rows: list[list[str]]) -> None:
    """Make the two bad rows a real export has: a text balance and a missing column."""
    text_row, ragged_row = rng.sample(range(len(rows)), BAD_RENT_ROWS)
    rows[text_row][RENT_HEADER.index("Balance (£)")] = "n/a"
    del rows[ragged_row][RENT_HEADER.index("Ward Code")]


# -- parking: permits --------------------------------------------------------------------
def _new_permit(rng: random.Random, number: int, wards: list[Ward], issued: date) -> Permit:
    kind = _weighted(rng, PERMIT_TYPES)
    holder = _person(rng)
    if kind == "Business":
        holder = rng.choice(
            (f"{rng.choice(LAST_NAMES)} & Sons Ltd", f"{rng.choice(STREET_WORDS)} Café")
        )
    elif kind == "Doctor":
        holder = f"Dr {holder}"
    plate = _plate(rng)
    if rng.random() < 0.03:
        plate = plate.replace(" ", "")
    elif rng.random() < 0.02:
        plate = plate.lower()
    expires = issued + timedelta(days=PERMIT_DAYS[kind] - 1)
    cancelled = _day_between(rng, issued, expires) if rng.random() < 0.04 else None
    return Permit(
        number=f"PM{number:06d}",
        type=kind,
        plate=plate,
        ward=rng.choice(wards).code,
        issued=issued,
        expires=expires,
        fee=rng.choice(PERMIT_FEES[kind]),
        holder=holder,
        cancelled=cancelled,
    )


def _status(permit: Permit, on: date) -> str:
    if permit.cancelled and permit.cancelled <= on:
        return "Cancelled"
    return "Expired" if permit.expires < on else "Active"


def _write_permits(
    folder: Path, rng: random.Random, wards: list[Ward], periods: list[tuple[int, int]]
) -> list[Path]:
    history = _months(_PERMIT_HISTORY_MONTHS, before=len(periods))
    permits: list[Permit] = []
    number = 210001
    paths = []
    for period in [*history, *periods]:
        start, end = _month_start(period), _month_end(period)
        for _ in range(int(rng.gauss(_PERMITS_PER_MONTH, 10))):
            permits.append(_new_permit(rng, number, wards, _day_between(rng, start, end)))
            number += 1
        if period in periods:
            listed = [p for p in permits if p.expires >= end - _LISTED_AFTER_EXPIRY]
            path = folder / f"permits_{_label(period)}.xlsx"
            paths.append(_write_workbook(path, listed, end))
    return paths


def _write_workbook(path: Path, permits: list[Permit], exported: date) -> Path:
    """One workbook, sheet ``Permits``, byte-identical for the same rows."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    stamp = datetime(exported.year, exported.month, exported.day, 18, 30)
    book = Workbook(write_only=True)
    book.properties.creator = "Riverside Parking Services"
    book.properties.created = book.properties.modified = stamp
    sheet = book.create_sheet(PERMITS_SHEET)
    sheet.append(PERMIT_HEADER)
    for p in sorted(permits, key=lambda p: p.number):
        status = _status(p, exported)
        sheet.append(
            [p.number, p.type, p.plate, p.ward, p.issued, p.expires, p.fee, status, p.holder]
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()  # not book.save(): that stamps "modified" with now
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_fixed_timestamps(buffer.getvalue(), stamp))
    return path


def _fixed_timestamps(xlsx: bytes, stamp: datetime) -> bytes:
    """Rewrite a zip with every member dated ``stamp`` (zip members record the write time)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, source.read(member))
    return out.getvalue()
