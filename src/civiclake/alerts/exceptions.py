"""Errors of the alerts stage."""

from __future__ import annotations

from civiclake.exceptions import CivicLakeError


class AlertDeliveryError(CivicLakeError):
    """A channel did not take a message (webhook refused or unreachable, SMTP failed).

    Never fails a run: the incident stays un-notified and delivery is retried on the next
    evaluation. The message names the channel and what to check; it holds no secrets.
    """


__all__ = ["AlertDeliveryError"]
