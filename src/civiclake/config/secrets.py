"""Secrets are ``${ENV_VAR}`` references, resolved only when used.

A :class:`Secret` keeps the *reference* (``postgresql://etl:${PG_PASSWORD}@db/x``);
its ``str``/``repr`` show the reference, never the value. The resolved value is
returned by :meth:`Secret.reveal` and registered with the :class:`Redactor`, so
any message that later contains it (a driver's error, a log line) is scrubbed
before it reaches logs, run history or the terminal.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from civiclake.exceptions import ConfigError

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "***"


class Redactor:
    """Remembers revealed secret values and scrubs them from text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= 3:  # masking one or two characters would shred messages
            with self._lock:
                self._values.add(value)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)
        return text


REDACTOR = Redactor()
"""Process-wide: a secret revealed anywhere is scrubbed everywhere."""


class Secret:
    """A configuration value that may embed ``${ENV_VAR}`` references."""

    __slots__ = ("reference",)

    def __init__(self, reference: str) -> None:
        self.reference = reference

    @property
    def env_vars(self) -> list[str]:
        return _REF.findall(self.reference)

    def reveal(self, environ: Mapping[str, str] | None = None) -> str:
        """The value with every ``${VAR}`` substituted; a missing variable is an error."""
        env = os.environ if environ is None else environ

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(
                    f"environment variable {name} is not set; it is referenced as ${{{name}}} "
                    f"in the configuration. Export it (export {name}=...) or put it in the "
                    f"project's .env file."
                )
            value = env[name]
            REDACTOR.add(value)
            return value

        return _REF.sub(sub, self.reference)

    def __str__(self) -> str:
        return self.reference

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.reference == self.reference

    def __hash__(self) -> int:
        return hash(self.reference)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


_FROM_DOTENV: dict[str, str] = {}
"""Variables this process took from a project's ``.env``, with the value taken."""


def load_dotenv(path: os.PathLike[str] | str) -> None:
    """Read ``KEY=value`` lines from a project's ``.env``.

    The real environment wins over the file. A value an *earlier* project's ``.env``
    put there does not: a process that loads two projects (tests, a demo rebuilt
    beside another) must not give the second the first one's masking key or URLs.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        current = os.environ.get(key)
        if current is not None and _FROM_DOTENV.get(key) != current:
            continue  # set by the person or the service manager: theirs wins
        os.environ[key] = _FROM_DOTENV[key] = value.strip().strip("'\"")


def from_environment(name: str) -> str | None:
    """``name`` as the process environment set it, ignoring what a project's ``.env`` put there."""
    value = os.environ.get(name)
    return None if value is None or _FROM_DOTENV.get(name) == value else value


MASKING_KEY_ENV = "CIVICLAKE_MASKING_KEY"
"""The environment variable (or ``.env`` line) new projects keep their masking key in."""


def generate_masking_key() -> str:
    """A new random masking key (64 hex digits) for ``.env``."""
    import secrets

    return secrets.token_hex(32)
