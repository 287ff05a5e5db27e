"""``freshness: 26h`` — a duration written the short way, checked at load.

Accepted: a whole number and a unit, ``30m``, ``26h``, ``2d`` (also ``90 minutes``,
``1 hour``, ``3 days``). Shown back the same short way by :func:`short`.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(\d+)\s*([a-z]+)$")
_UNITS = {
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
}


def parse_duration(text: str) -> timedelta:
    """``26h`` → 26 hours; anything else is a ValueError saying what is accepted."""
    match = _DURATION.match(str(text).strip().lower())
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None or int(match.group(1)) == 0:
        raise ValueError(
            f"{text!r} is not a duration; write a whole number and m, h or d, e.g. 30m, 26h, 2d"
        )
    return timedelta(**{unit: int(match.group(1))})


def short(span: timedelta) -> str:
    """``31h``, ``45m``, ``3d``: minutes under two hours, hours under three days."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes}m"
    if minutes < 72 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // (24 * 60)}d"


__all__ = ["parse_duration", "short"]
