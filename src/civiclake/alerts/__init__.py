"""Alerts: failures, failed checks and overdue data reach the department that owns them.

Something wrong opens an **incident** (see :mod:`.incidents`) keyed by department, kind
(``failure``, ``check``, ``freshness``) and subject (a step, a check, a dataset's
producer). Its department's channels (``alerts.channels`` in civiclake.yaml, each taking
some departments or ``*``) get **one alert when it opens** and **one recovery notice
when it clears**, however many evaluations see it in between. Messages are redacted.

Three doors, each evaluating and then delivering whatever is due::

    evaluate_run(project, run_id, steps)   # the runner, at the end of every run
    check_freshness(project, now=None)     # the scheduler each tick; `civiclake alerts check`
    report(project, kind=..., department=..., subject=..., failing=..., message=...)
                                           # anything else: failed quality checks

A channel that is down never fails the caller: the failure is logged, the incident stays
un-notified, and the next evaluation (any door) tries again. An alert is marked sent when
every channel of its department took it; a retry goes to all of them again (a duplicate on
a channel that worked beats silence on the one that did not).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from civiclake.alerts.channels import Event, Notice, deliver
from civiclake.alerts.exceptions import AlertDeliveryError
from civiclake.alerts.freshness import Freshness, measure
from civiclake.alerts.incidents import KINDS, Incident, IncidentKind, Incidents
from civiclake.config.secrets import REDACTOR
from civiclake.exceptions import ConfigError

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.steps import StepDefinition, StepOutcome

LOG = logging.getLogger("civiclake.alerts")


@dataclass
class Delivery:
    """What one evaluation opened, closed and sent (and which channels failed)."""

    opened: list[Incident] = field(default_factory=list)
    closed: list[Incident] = field(default_factory=list)
    sent: list[tuple[str, str, int]] = field(default_factory=list)
    """(channel, ``alert``/``recovery``, incident id) for every notice a channel took."""
    failed: list[str] = field(default_factory=list)
    """One redacted line per notice a channel did not take."""


def report(
    project: Project,
    *,
    kind: IncidentKind,
    department: str,
    subject: str,
    failing: bool,
    message: str,
    run_id: int | None = None,
    now: datetime | None = None,
    log: logging.Logger | None = None,
) -> Delivery:
    """Say whether ``subject`` is failing now; opens or closes its incident, then delivers.

    ``failing=True`` opens the incident (or notes it is still open); ``False`` closes it.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown incident kind {kind!r}; allowed: {', '.join(KINDS)}")
    moment = _now(now)
    result = Delivery()
    _note(project, result, kind, department, subject, failing, message, run_id, moment)
    return deliver_due(project, now=moment, log=log, into=result)


def evaluate_run(
    project: Project,
    run_id: int,
    steps: Sequence[tuple[StepDefinition, StepOutcome]],
    *,
    now: datetime | None = None,
    log: logging.Logger | None = None,
) -> Delivery:
    """After a run: a failed step opens (or keeps) its ``failure`` incident; a successful
    one closes its failure incident and its ``freshness`` one (it has just written). A
    blocked step opens nothing: its upstream's incident says why."""
    moment = _now(now)
    result = Delivery()
    repo = Incidents(project.store)
    # one read first: a run of fifty healthy steps takes no write lock for its incidents
    failing_open = repo.open_subjects("failure")
    fresh_open = repo.open_subjects("freshness")
    for definition, outcome in steps:
        key = (definition.department, definition.name)
        if outcome.status == "failed":
            message = f"{definition.name} failed in run {run_id}: {outcome.error or 'no error'}"
            _note(
                project,
                result,
                "failure",
                definition.department,
                definition.name,
                True,
                message,
                run_id,
                moment,
            )
        elif outcome.status == "success" and key in failing_open:
            _note(
                project,
                result,
                "failure",
                definition.department,
                definition.name,
                False,
                f"{definition.name} succeeded in run {run_id}",
                run_id,
                moment,
            )
        if outcome.status == "success" and key in fresh_open:
            _note(
                project,
                result,
                "freshness",
                definition.department,
                definition.name,
                False,
                f"{definition.name} wrote its datasets again in run {run_id}",
                run_id,
                moment,
            )
    return deliver_due(project, now=moment, log=log, into=result)


def freshness(
    project: Project,
    now: datetime | None = None,
    definitions: Sequence[StepDefinition] | None = None,
) -> list[Freshness]:
    """Every step with a ``freshness:`` target, measured at ``now``, overdue ones first."""
    if definitions is None:
        from civiclake.steps import Broken, discover

        definitions = [s.definition for s in discover(project) if not isinstance(s, Broken)]
    found = measure(project, definitions, _now(now))
    return sorted(found, key=lambda f: (not f.overdue, f.step))


def check_freshness(
    project: Project,
    now: datetime | None = None,
    *,
    definitions: Sequence[StepDefinition] | None = None,
    log: logging.Logger | None = None,
) -> Delivery:
    """Open a ``freshness`` incident for every overdue step, close it for one fresh again,
    and deliver what is due (the scheduler calls this each tick)."""
    moment = _now(now)
    result = Delivery()
    open_now = Incidents(project.store).open_subjects("freshness")
    for f in freshness(project, moment, definitions):
        if f.last_written is None:
            continue  # never written: not overdue, nothing to clear
        if not f.overdue and (f.department, f.step) not in open_now:
            continue  # fresh and nothing open: no write (the scheduler calls this every tick)
        _note(
            project, result, "freshness", f.department, f.step, f.overdue, f.message(), None, moment
        )
    return deliver_due(project, now=moment, log=log, into=result)


def deliver_due(
    project: Project,
    *,
    now: datetime | None = None,
    log: logging.Logger | None = None,
    into: Delivery | None = None,
) -> Delivery:
    """Send every alert and recovery notice not yet delivered (retries what failed before)."""
    moment = _now(now)
    result = into or Delivery()
    log = log or LOG
    incidents = Incidents(project.store)
    alerts = project.config.alerts
    if not alerts.channels:
        return result
    due_now: list[tuple[Event, list[Incident]]] = [
        ("alert", incidents.due_alerts()),
        ("recovery", incidents.due_recoveries()),
    ]
    for event, due in due_now:
        for incident in due:
            channels = alerts.for_department(incident.department)
            if not channels:
                continue
            notice = _notice(project, incident, event)
            took = True
            for name, channel in channels.items():
                try:
                    deliver(name, channel, notice)
                except (AlertDeliveryError, ConfigError) as exc:
                    took = False
                    line = REDACTOR(f"{event} for {incident.subject}: {exc}")
                    result.failed.append(line)
                    log.warning("alert not delivered (will retry): %s", line)
                else:
                    result.sent.append((name, event, incident.id))
            if took:
                if event == "alert":
                    incidents.mark(incident.id, "notified_at", moment)
                else:
                    incidents.mark(incident.id, "recovery_notified_at", moment)
    return result


def send_test(project: Project, channel: str | None = None) -> dict[str, str | None]:
    """Send a test message on ``channel`` (every channel when None): name → None when it
    was taken, else the reason it was not."""
    from civiclake.config.suggest import did_you_mean

    channels = project.config.alerts.channels
    if not channels:
        raise ConfigError(
            f"{project.config_path}: no alerts channels; add one under `alerts.channels` "
            "(see docs/alerts.md)"
        )
    if channel is not None and channel not in channels:
        raise ConfigError(
            f"no alerts channel {channel!r}{did_you_mean(channel, channels)}; channels: "
            f"{', '.join(channels)}"
        )
    chosen = [channel] if channel else list(channels)
    results: dict[str, str | None] = {}
    for name in chosen:
        notice = Notice(
            "test",
            project.config.name,
            ", ".join(channels[name].departments),
            "test",
            "test",
            f"A test message from civiclake project {project.config.name!r} on channel "
            f"{name!r}: if you can read this, alerts for "
            f"{', '.join(channels[name].departments)} reach you.",
        )
        try:
            deliver(name, channels[name], notice)
            results[name] = None
        except (AlertDeliveryError, ConfigError) as exc:
            results[name] = REDACTOR(str(exc))
    return results


def incidents(project: Project, *, include_closed: bool = False) -> list[Incident]:
    """Open incidents, newest first (and closed ones too with ``include_closed``)."""
    return Incidents(project.store).newest(include_closed=include_closed)


def _note(
    project: Project,
    result: Delivery,
    kind: str,
    department: str,
    subject: str,
    failing: bool,
    message: str,
    run_id: int | None,
    now: datetime,
) -> None:
    repo = Incidents(project.store)
    if failing:
        incident, opened = repo.open_or_touch(
            department=department,
            kind=kind,
            subject=subject,
            message=REDACTOR(message),
            run_id=run_id,
            now=now,
        )
        if opened:
            result.opened.append(incident)
    else:
        closed = repo.close(department=department, kind=kind, subject=subject, now=now)
        if closed is not None:
            result.closed.append(closed)


def _notice(project: Project, incident: Incident, event: Event) -> Notice:
    message = incident.message
    if event == "recovery":
        message = f"{incident.subject} has recovered. It was: {incident.message}"
    return Notice(
        event,
        project.config.name,
        incident.department,
        incident.kind,
        incident.subject,
        message,
        incident.run_id,
        incident.opened_at,
        incident.closed_at,
    )


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


__all__ = [
    "AlertDeliveryError",
    "Delivery",
    "Freshness",
    "Incident",
    "IncidentKind",
    "check_freshness",
    "deliver_due",
    "evaluate_run",
    "freshness",
    "incidents",
    "report",
    "send_test",
]
