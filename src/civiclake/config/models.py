"""Typed models of ``civiclake.yaml``.

Closed vocabularies are ``Literal`` types so that a typo gets the allowed
values and the closest match in its error (see :mod:`civiclake.config.loader`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from civiclake.config.secrets import Secret
from civiclake.naming import department_id

Zone = Literal["raw", "refined", "trusted"]
EngineName = Literal["duckdb", "spark"]

REQUIRED_DEPARTMENTS = ("unrestricted", "sandbox")


class Model(BaseModel):
    """Base for config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Department(Model):
    """A department owns data. ``unrestricted`` is readable by everyone."""

    id: str
    description: str = ""
    owner: str = ""

    @field_validator("id", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> str:
        return department_id(str(value))


class StorageConfig(Model):
    """Where tables and landing files live: a local path (relative to the project) or a URL."""

    root: str = "data"
    options: dict[str, Secret] = Field(default_factory=dict)
    """Object-store options passed to delta-rs (e.g. ``AWS_REGION``); values may be ``${VAR}``."""
    keep_replaced_files_hours: int = Field(default=1, ge=0, le=24 * 90)
    """How long files a compaction replaced stay on disk before a later vacuum deletes them,
    so queries, API sessions and runs that opened the older version finish reading it.
    0 deletes them at once (only safe when nothing reads while runs write)."""


class EngineConfig(Model):
    name: EngineName = "duckdb"
    threads: int = Field(default=2, ge=1, le=256)
    memory_limit: str = "4GB"
    dialect: Literal["duckdb"] = "duckdb"
    """The dialect job SQL is written in; other engines receive it transpiled by sqlglot."""


class MetadataConfig(Model):
    url: Secret = Secret("sqlite:///.civiclake/metadata.db")
    """Any SQLAlchemy URL; relative SQLite paths are relative to the project folder."""
    busy_timeout_seconds: float = Field(default=30.0, ge=0, le=3600)
    """How long a write waits, in all, for another process's write lock on the store."""


class RunConfig(Model):
    threads: int = Field(default=2, ge=1, le=64)
    """How many sources and jobs run at once."""
    retries: int = Field(default=2, ge=0, le=10)
    """How many times a transient failure is retried."""
    retry_backoff_seconds: float = Field(default=1.0, ge=0)
    lock_wait_seconds: float = Field(default=60.0, ge=0, le=86_400)
    """How long a run waits for datasets another run is writing before it stops."""
    lease_seconds: float = Field(default=120.0, ge=1, le=86_400)
    """How long a run's hold on its datasets lasts unless renewed (renewed every third of
    it); a run that died frees its datasets after this (at once on the same machine)."""


class AccessConfig(Model):
    """How PII columns look to users not granted PII (in the SQL API, CLI and warehouse)."""

    masking: Literal["hash", "redact"] = "hash"
    """``hash``: a keyed HMAC-SHA256 prefix per department (joins and counts still work, nobody
    without the key can reverse it); ``redact``: ``***``."""
    masking_key: Secret | None = None
    """The key for ``hash`` masking, e.g. ``${CIVICLAKE_MASKING_KEY}`` (from the environment or
    ``.env``; at least 32 characters, `civiclake access key` makes one). Required once a
    dataset has PII and masking is ``hash``."""

    @model_validator(mode="before")
    @classmethod
    def _salt_renamed(cls, value: Any) -> Any:
        if isinstance(value, dict) and "hash_salt" in value:
            raise ValueError(
                "access.hash_salt is gone: masks are now a keyed HMAC, not a salted hash. "
                "Rename it to access.masking_key and give it at least 32 random characters "
                "(`civiclake access key` makes one)"
            )
        return value


class ServeConfig(Model):
    """The SQL HTTP API (`civiclake serve`)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    max_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    """Rows returned at most; a longer result is cut and flagged ``truncated``."""
    max_result_mb: float = Field(default=16, gt=0, le=4096)
    """Result size at most (Arrow bytes, counted while streaming); a bigger result is cut and
    flagged ``truncated``. DuckDB's memory limit does not cover results, so this bounds them."""
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    memory_limit: str = "1GB"
    """DuckDB memory limit of each access set's database."""
    max_sql_chars: int = Field(default=20_000, ge=100, le=1_000_000)


class WarehouseConfig(Model):
    """The PostgreSQL warehouse BI tools connect to (`civiclake publish`)."""

    url: Secret | None = None
    """The service account's URL, e.g. ``postgresql://civiclake:${PG_PASSWORD}@db:5432/dw``: not
    a superuser, no CREATEROLE before PostgreSQL 16 (docs/serving.md#service-account)."""
    zones: tuple[Zone, ...] = ("trusted",)
    """Zones published: trusted by default; add ``refined``, or ``raw`` (e.g. to serve a
    synced database's or a spreadsheet's history), to publish them too."""
    history: bool = True
    """Publish ``x__history`` beside ``x`` for keyed datasets."""
    valid_to_sentinel: datetime | None = None
    """An open version's ``valid_to`` in the warehouse (e.g. ``9999-12-31``) for BI tools
    that handle NULL badly in a ``BETWEEN``; NULL when unset (as in the engine's views)."""
    role_prefix: str | None = Field(default=None, pattern=r"^([a-z_][a-z0-9_]*)?$")
    """Put before every role civiclake creates (roles are shared by the whole server). Default:
    ``<project>_<database>_``, so two projects on one server never share a role."""


class SchedulerConfig(Model):
    """How ``civiclake scheduler`` runs the project's ``schedule:`` lines."""

    catch_up: Literal["once", "skip"] = "once"
    """After downtime, run each step's missed slots once (``once``), or not at all (``skip``:
    only slots younger than ``grace_seconds`` run)."""
    grace_seconds: float = Field(default=300, gt=0)
    """How late a slot may start and still count as on time (not missed)."""
    tick_seconds: float = Field(default=30, gt=0)
    """The longest the scheduler sleeps between looks at the clock and the catalog."""
    max_parallel_runs: int = Field(default=2, ge=1)
    """Runs the scheduler keeps going at once (each runs one source or a set of jobs)."""


WEBHOOK_TEMPLATES = ("json", "teams", "google_chat", "slack")
"""Payload shapes a webhook channel can send: plain JSON, or what Microsoft Teams (a Workflows
webhook), Google Chat or Slack incoming webhooks accept."""
CHANNEL_TYPES = ("webhook", "email")


class WebhookChannel(Model):
    """An alert channel that POSTs JSON to a URL (a Teams, Google Chat or Slack webhook…)."""

    type: Literal["webhook"]
    url: Secret
    """Usually a secret itself, e.g. ``${TEAMS_WEBHOOK_URL}``."""
    template: str = "json"
    """The payload shape: ``json``, ``teams``, ``google_chat`` or ``slack``."""
    headers: dict[str, Secret] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    departments: list[str] = Field(default_factory=lambda: ["*"])
    """Whose alerts this channel receives; ``*`` is every department."""

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str) -> str:
        if value not in WEBHOOK_TEMPLATES:
            from civiclake.config.suggest import did_you_mean

            raise ValueError(
                f"unknown webhook template {value!r}{did_you_mean(value, WEBHOOK_TEMPLATES)}; "
                f"allowed: {', '.join(WEBHOOK_TEMPLATES)}"
            )
        return value


class EmailChannel(Model):
    """An alert channel that sends e-mail through an SMTP server."""

    type: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    """Upgrade the connection with STARTTLS before logging in (port 587)."""
    ssl: bool = False
    """Connect with TLS from the start (port 465) instead."""
    username: Secret | None = None
    password: Secret | None = None
    """E.g. ``${SMTP_PASSWORD}``, from the environment or the project's ``.env``."""
    sender: str
    """The From address, e.g. ``civiclake@council.gov.uk``."""
    to: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    departments: list[str] = Field(default_factory=lambda: ["*"])
    """Whose alerts this channel receives; ``*`` is every department."""

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a]
        if bad:
            raise ValueError(f"{', '.join(bad)} is not an e-mail address")
        return value


class AlertsConfig(Model):
    """Where alerts go: named channels, each taking some departments' alerts (or ``*``)."""

    channels: dict[str, Annotated[WebhookChannel | EmailChannel, Field(discriminator="type")]] = (
        Field(default_factory=dict)
    )

    @field_validator("channels", mode="before")
    @classmethod
    def _known_types(cls, value: Any) -> Any:
        """A wrong ``type:`` gets the allowed ones and the closest, like every closed value."""
        if isinstance(value, dict):
            from civiclake.config.suggest import did_you_mean

            for name, channel in value.items():
                kind = channel.get("type") if isinstance(channel, dict) else None
                if kind not in CHANNEL_TYPES:
                    shown = "missing" if kind is None else repr(kind)
                    raise ValueError(
                        f"channel {name!r}: type {shown} is not allowed"
                        f"{did_you_mean(str(kind), CHANNEL_TYPES)}; allowed: "
                        f"{', '.join(CHANNEL_TYPES)}"
                    )
        return value

    def for_department(self, department: str) -> dict[str, WebhookChannel | EmailChannel]:
        """The channels that receive ``department``'s alerts."""
        return {
            name: channel
            for name, channel in self.channels.items()
            if "*" in channel.departments or department in channel.departments
        }


class ProjectConfig(Model):
    name: str
    timezone: str = "Europe/London"
    """The time zone of schedules' times of day (``daily at 02:00``), an IANA name."""
    departments: list[Department] = Field(default_factory=list)
    storage: StorageConfig = StorageConfig()
    engine: EngineConfig = EngineConfig()
    metadata: MetadataConfig = MetadataConfig()
    run: RunConfig = RunConfig()
    access: AccessConfig = AccessConfig()
    serve: ServeConfig = ServeConfig()
    warehouse: WarehouseConfig = WarehouseConfig()
    scheduler: SchedulerConfig = SchedulerConfig()

    alerts: AlertsConfig = AlertsConfig()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            from civiclake.config.suggest import did_you_mean

            raise ValueError(
                f"unknown time zone {value!r}{did_you_mean(value, available_timezones())}; "
                "use an IANA name such as Europe/London"
            ) from None
        return value

    @field_validator("departments", mode="before")
    @classmethod
    def _one_line_each(cls, value: Any) -> Any:
        """Accept ``- housing`` as well as ``- {id: housing, description: …}``."""
        if isinstance(value, list):
            return [{"id": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _required_and_unique(self) -> ProjectConfig:
        ids = [d.id for d in self.departments]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"department listed twice: {', '.join(dupes)}")
        missing = [d for d in REQUIRED_DEPARTMENTS if d not in ids]
        if missing:
            extra = [Department(id=d) for d in missing]
            object.__setattr__(self, "departments", [*self.departments, *extra])
        known = self.department_ids()
        for name, channel in self.alerts.channels.items():
            for dept in channel.departments:
                if dept != "*" and dept not in known:
                    from civiclake.config.suggest import did_you_mean

                    raise ValueError(
                        f"alerts channel {name!r} names unknown department {dept!r}"
                        f"{did_you_mean(dept, known)}; known: {', '.join(known)} (or `*` for all)"
                    )
        return self

    def department_ids(self) -> list[str]:
        return [d.id for d in self.departments]
