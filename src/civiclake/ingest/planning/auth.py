"""The planning system's request signature: ``X-Public`` and ``X-Hash`` headers.

``X-Hash`` is base64 of the hex HMAC-SHA256 (keyed by the private key) of the
hex SHA-256 of the public key followed by the local time in Europe/London as
``YYYYMMDDHHMM``. It changes every minute, so it is built per request; the
server accepts only the current minute's hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def minute_stamp(when: datetime | None = None) -> str:
    """``YYYYMMDDHHMM`` in Europe/London for ``when`` (default: now)."""
    moment = when or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LONDON).strftime("%Y%m%d%H%M")


def request_hash(public_key: str, private_key: str, when: datetime | None = None) -> str:
    """The ``X-Hash`` value for a request made at ``when``."""
    token = hashlib.sha256((public_key + minute_stamp(when)).encode()).hexdigest()
    mac = hmac.new(private_key.encode(), token.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(mac.encode()).decode()


def auth_headers(public_key: str, private_key: str, when: datetime | None = None) -> dict[str, str]:
    return {"X-Public": public_key, "X-Hash": request_hash(public_key, private_key, when)}
