"""A job's options — zone, key, materialization, description, owner, PII, clearances — typed.

SQL jobs set them in a header comment block, Python jobs as ``@job(...)``
arguments; both are validated by one pydantic model so a typo gets the same
answer everywhere: the file, the line, the allowed values and the closest one.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from civiclake.config.models import Model
from civiclake.config.suggest import did_you_mean
from civiclake.jobs.exceptions import JobDefinitionError
from civiclake.naming import is_identifier

JobZone = Literal["refined", "trusted"]
Materialize = Literal["table", "append", "incremental"]
"""``table`` replaces the dataset each run, ``append`` adds the rows once per
run, ``incremental`` upserts them by ``key``."""


class JobOptions(Model):
    """What a job declares about the dataset it writes."""

    zone: JobZone = "refined"
    key: list[str] = Field(default_factory=list)
    """Columns that identify a row; required by ``materialize: incremental``."""
    materialize: Materialize = "table"
    description: str = ""
    owner: str = ""
    pii: list[str] = Field(default_factory=list)
    """Columns holding personal data (more are derived from the inputs' PII: jobs/pii.py)."""
    pii_cleared: dict[str, str] = Field(default_factory=dict)
    """Output columns derived from PII that are not personal, each with the reason why."""
    freshness: str | None = None
    """How old the dataset's newest successful write may be before its department is
    alerted, e.g. ``26h``, ``30m``, ``2d`` (see :mod:`civiclake.alerts`)."""

    @field_validator("freshness")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        from civiclake.config.durations import parse_duration

        if value is not None:
            parse_duration(value)
        return value

    @field_validator("key", "pii", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """Accept ``a, b`` (a header line) as well as ``["a", "b"]`` (Python)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, tuple):
            return list(value)
        return value

    @field_validator("key", "pii")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not is_identifier(c)]
        if bad:
            raise ValueError(
                f"{', '.join(repr(c) for c in bad)} is not a column name; "
                "columns are lowercase snake_case (e.g. account_ref)"
            )
        return value

    @field_validator("pii_cleared")
    @classmethod
    def _reasons(cls, value: dict[str, str]) -> dict[str, str]:
        """A clearance without a reason cannot be reviewed, so it is not a clearance."""
        bad = [c for c in value if not is_identifier(c)]
        if bad:
            raise ValueError(
                f"{', '.join(repr(c) for c in bad)} is not a column name; "
                "columns are lowercase snake_case (e.g. account_ref)"
            )
        empty = [c for c, reason in value.items() if not reason.strip()]
        if empty:
            raise ValueError(
                f"{', '.join(empty)} has no reason; say why the column is not personal data, "
                'e.g. {tenancies: "counted per ward"}'
            )
        return {c: reason.strip() for c, reason in value.items()}

    @model_validator(mode="after")
    def _incremental_needs_key(self) -> JobOptions:
        if self.materialize == "incremental" and not self.key:
            raise ValueError(
                "materialize: incremental upserts rows by key, so it needs a key "
                "(e.g. `-- key: account_ref` or key=['account_ref']); "
                "or use materialize: table"
            )
        return self


def parse_options(
    values: dict[str, Any], *, where: str, lines: dict[str, int] | None = None
) -> JobOptions:
    """Validate raw option values; errors name ``where`` and the line of each key."""
    try:
        return JobOptions.model_validate(values)
    except ValidationError as exc:
        messages = [_describe(err, where, lines or {}) for err in exc.errors()]
        raise JobDefinitionError("\n".join(messages)) from None


def _describe(err: Any, where: str, lines: dict[str, int]) -> str:
    key = str(err["loc"][0]) if err["loc"] else ""
    line = lines.get(key)
    prefix = f"{where}, line {line}" if line else where
    value = err.get("input")
    allowed_keys = list(JobOptions.model_fields)
    if err["type"] == "extra_forbidden":
        return (
            f"{prefix}: unknown option `{key}`{did_you_mean(key, allowed_keys)}. "
            f"Allowed: {', '.join(allowed_keys)}"
        )
    if err["type"] == "literal_error":
        allowed = [str(a) for a in typing.get_args(JobOptions.model_fields[key].annotation)]
        return (
            f"{prefix}: {key} {value!r} is not allowed{did_you_mean(str(value), allowed)}. "
            f"Allowed: {', '.join(allowed)}"
        )
    message = str(err["msg"]).removeprefix("Value error, ")
    if not key:
        line = lines.get("materialize")
        prefix = f"{where}, line {line}" if line else where
        return f"{prefix}: {message}"
    return f"{prefix}: {key}: {message}"
