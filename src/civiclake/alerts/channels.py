"""Alert channels: a webhook (JSON in one of four shapes) and e-mail over SMTP.

A :class:`Notice` is what is said — an alert, a recovery or a test — already redacted;
:func:`deliver` says it on one channel and raises :class:`AlertDeliveryError` (naming
the channel, never a secret) when the channel does not take it. The payload shapes:

* ``json``: ``{"event", "project", "department", "kind", "subject", "message", "run_id",
  "opened_at", "closed_at", "title", "text"}`` for anything that reads JSON;
* ``teams``: a message with one Adaptive Card (what a Teams *Workflows* webhook accepts);
* ``google_chat``: ``{"text": …}`` (a Google Chat space's incoming webhook);
* ``slack``: ``{"text": …, "blocks": [a section]}`` (a Slack incoming webhook).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from civiclake.alerts.exceptions import AlertDeliveryError
from civiclake.config.models import EmailChannel, WebhookChannel
from civiclake.config.secrets import REDACTOR

Event = Literal["alert", "recovery", "test"]
Channel = WebhookChannel | EmailChannel

_TITLES = {
    ("alert", "failure"): "FAILED",
    ("alert", "check"): "CHECK FAILED",
    ("alert", "freshness"): "OVERDUE",
    ("recovery", "failure"): "RECOVERED",
    ("recovery", "check"): "CHECK PASSING AGAIN",
    ("recovery", "freshness"): "FRESH AGAIN",
}


@dataclass(frozen=True)
class Notice:
    """One message to send; every text field is redacted when built (:meth:`redacted`)."""

    event: Event
    project: str
    department: str
    kind: str
    subject: str
    message: str
    run_id: int | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    def redacted(self) -> Notice:
        return Notice(
            self.event,
            self.project,
            self.department,
            self.kind,
            REDACTOR(self.subject),
            REDACTOR(self.message),
            self.run_id,
            self.opened_at,
            self.closed_at,
        )

    @property
    def title(self) -> str:
        if self.event == "test":
            return f"[civiclake {self.project}] test message"
        word = _TITLES.get((self.event, self.kind), self.event.upper())
        return f"[civiclake {self.project}] {word}: {self.subject} ({self.department})"

    @property
    def text(self) -> str:
        lines = [self.message]
        if self.event == "recovery" and self.opened_at and self.closed_at:
            lines.append(f"Open from {_when(self.opened_at)} to {_when(self.closed_at)}.")
        elif self.opened_at:
            lines.append(f"Since {_when(self.opened_at)}.")
        if self.run_id is not None:
            lines.append(f"Run {self.run_id}: `civiclake runs show {self.run_id}`.")
        return "\n".join(lines)


def payload(template: str, notice: Notice) -> dict[str, Any]:
    """The JSON body a webhook of ``template`` gets for ``notice``."""
    if template == "teams":
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {
                                "type": "TextBlock",
                                "text": notice.title,
                                "weight": "Bolder",
                                "size": "Medium",
                                "wrap": True,
                            },
                            {"type": "TextBlock", "text": notice.text, "wrap": True},
                        ],
                    },
                }
            ],
        }
    if template == "google_chat":
        return {"text": f"*{notice.title}*\n{notice.text}"}
    if template == "slack":
        return {
            "text": notice.title,
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*{notice.title}*\n{notice.text}"},
                }
            ],
        }
    return {
        "event": notice.event,
        "project": notice.project,
        "department": notice.department,
        "kind": notice.kind,
        "subject": notice.subject,
        "message": notice.message,
        "run_id": notice.run_id,
        "opened_at": notice.opened_at.isoformat() if notice.opened_at else None,
        "closed_at": notice.closed_at.isoformat() if notice.closed_at else None,
        "title": notice.title,
        "text": notice.text,
    }


def deliver(name: str, channel: Channel, notice: Notice) -> None:
    """Send ``notice`` on ``channel`` (called ``name`` in civiclake.yaml)."""
    notice = notice.redacted()
    try:
        if isinstance(channel, WebhookChannel):
            _post(channel, notice)
        else:
            _mail(channel, notice)
    except AlertDeliveryError as exc:
        raise AlertDeliveryError(f"alerts channel {name!r}: {REDACTOR(str(exc))}") from None
    except Exception as exc:  # a channel's library failing in a way we did not foresee
        raise AlertDeliveryError(
            f"alerts channel {name!r}: {type(exc).__name__}: {REDACTOR(str(exc))}"
        ) from None


def _post(channel: WebhookChannel, notice: Notice) -> None:
    import httpx

    url = channel.url.reveal()
    headers = {k: v.reveal() for k, v in channel.headers.items()}
    try:
        response = httpx.post(
            url,
            json=payload(channel.template, notice),
            headers=headers,
            timeout=channel.timeout_seconds,
        )
    except httpx.HTTPError as exc:
        raise AlertDeliveryError(
            f"the webhook did not answer ({type(exc).__name__}: {exc}); check its `url` and "
            "that this machine can reach it"
        ) from None
    if response.status_code >= 300:
        raise AlertDeliveryError(
            f"the webhook answered HTTP {response.status_code} ({response.text[:200]!r}); check "
            "its `url` and `template`"
        )


def _mail(channel: EmailChannel, notice: Notice) -> None:
    import smtplib
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = notice.title
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(notice.text + "\n\n-- civiclake alerts\n")
    smtp_class = smtplib.SMTP_SSL if channel.ssl else smtplib.SMTP
    try:
        with smtp_class(channel.host, channel.port, timeout=channel.timeout_seconds) as smtp:
            if channel.starttls and not channel.ssl:
                smtp.starttls()
            if channel.username is not None:
                password = channel.password.reveal() if channel.password else ""
                smtp.login(channel.username.reveal(), password)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise AlertDeliveryError(
            f"the SMTP server {channel.host}:{channel.port} refused the login; check "
            "`username` and `password`"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertDeliveryError(
            f"cannot send e-mail through {channel.host}:{channel.port} ({type(exc).__name__}: "
            f"{exc}); check `host`, `port`, `starttls` and `ssl`"
        ) from None


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


__all__ = ["Channel", "Event", "Notice", "deliver", "payload"]
