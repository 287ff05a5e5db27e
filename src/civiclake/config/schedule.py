"""``schedule:`` of a source or job: a cron expression or a few plain words, checked at load.

Accepted (case and extra spaces do not matter)::

    every 15 minutes   every minute   every 2 hours   hourly
    daily at 02:00     weekdays at 07:30     mondays at 06:00     weekends at 09:00
    */15 * * * *       0 1 * * 1-5           (any five-field cron expression)

Intervals (``every …``, ``hourly``, a cron expression whose hour and day fields are all
``*``) count in UTC, so a change of the clocks neither skips
nor repeats a run. Times of day (``daily at``, ``weekdays at``, cron) are wall-clock times
in the project's time zone (Europe/London unless ``timezone:`` says otherwise): on the
night the clocks go forward a time in the missing hour runs when the hour would have
been (an hour later by the new clock); on the night they go back a time in the repeated
hour runs once, the first time. The calendar arithmetic is croniter's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from civiclake.config.suggest import did_you_mean

_DAYS = {
    "mondays": "1",
    "tuesdays": "2",
    "wednesdays": "3",
    "thursdays": "4",
    "fridays": "5",
    "saturdays": "6",
    "sundays": "0",
    "weekdays": "1-5",
    "weekends": "0,6",
    "daily": "*",
}
_UNITS = {"minute": "minute", "minutes": "minute", "hour": "hour", "hours": "hour"}
_WORDS = sorted({"every", "at", "hourly", *_DAYS, *_UNITS})
_EVERY = re.compile(r"^every\s+(?:(\d+)\s+)?([a-z]+)$")
_AT = re.compile(r"^([a-z]+)\s+at\s+(\d{1,2}):(\d{2})$")


class ScheduleError(ValueError):
    """Not a schedule civiclake understands; the message says what would be."""


@dataclass(frozen=True)
class Schedule:
    """A parsed ``schedule:``: a cron expression, and whether it counts in UTC."""

    text: str
    cron: str
    utc: bool
    """Intervals count in UTC; times of day in the project's time zone."""

    def next_after(self, moment: datetime, zone: str = "Europe/London") -> datetime:
        """The first run strictly after ``moment`` (an aware datetime), as an aware UTC time."""
        from croniter import croniter

        if moment.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        if self.utc:
            start = moment.astimezone(UTC).replace(tzinfo=None)
            following = croniter(self.cron, start).get_next(datetime)
            return following.replace(tzinfo=UTC)
        tz = ZoneInfo(zone)
        local = moment.astimezone(tz).replace(tzinfo=None)
        times = croniter(self.cron, local)
        while True:
            wall: datetime = times.get_next(datetime)
            when = _instant(wall, tz)
            if when > moment.astimezone(UTC):
                return when


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time: for a repeated one (clocks going back)
    the first; for one in the missing hour (clocks going forward), zoneinfo reads it with
    the offset before the change, which lands as far past the gap's start as ``wall`` is
    (01:30 on the spring night in London is 02:30 BST)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def parse_schedule(text: str) -> Schedule:
    """``text`` as a :class:`Schedule`, or :class:`ScheduleError` naming what was wrong."""
    from croniter import croniter

    said = " ".join(text.strip().lower().split())
    if not said:
        raise ScheduleError("the schedule is empty; e.g. `daily at 02:00` or `every 15 minutes`")
    if said == "hourly":
        return Schedule(text, "0 * * * *", utc=True)
    every = _EVERY.match(said)
    if every:
        count, unit = int(every.group(1) or 1), _UNITS.get(every.group(2))
        if unit is None:
            raise ScheduleError(
                f"{text!r}: unknown unit {every.group(2)!r}"
                f"{did_you_mean(every.group(2), list(_UNITS))}; say `every N minutes` "
                "or `every N hours`"
            )
        limit = 59 if unit == "minute" else 23
        if not 1 <= count <= limit:
            raise ScheduleError(f"{text!r}: every 1 to {limit} {unit}s")
        cron = f"*/{count} * * * *" if unit == "minute" else f"0 */{count} * * *"
        return Schedule(text, cron, utc=True)
    at = _AT.match(said)
    if at:
        days, hour, minute = at.group(1), int(at.group(2)), int(at.group(3))
        if days not in _DAYS:
            raise ScheduleError(
                f"{text!r}: unknown day word {days!r}{did_you_mean(days, list(_DAYS))}; "
                f"use one of {', '.join(_DAYS)}"
            )
        if hour > 23 or minute > 59:
            raise ScheduleError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
        return Schedule(text, f"{minute} {hour} * * {_DAYS[days]}", utc=False)
    fields = said.split()
    if len(fields) == 5 and croniter.is_valid(said):
        # every hour of every day (``*/15 * * * *``): an interval, counted in UTC like one
        interval = fields[1] == "*" and fields[2:] == ["*", "*", "*"]
        return Schedule(text, said, utc=interval)
    words = [w for w in re.findall(r"[a-z]+", said) if w not in _WORDS]
    hint = did_you_mean(words[0], _WORDS) if words else ""
    raise ScheduleError(
        f"{text!r} is not a schedule{hint}: write a cron expression (`0 2 * * *`) or "
        "`every 15 minutes`, `hourly`, `daily at 02:00`, `weekdays at 07:30`"
    )


__all__ = ["Schedule", "ScheduleError", "parse_schedule"]
