"""Masking PII so that nobody without the project's key can reverse it.

A masked value is the first 16 hex digits of HMAC-SHA256 over the value's text,
keyed per department: ``key(dept) = HMAC-SHA256(masking_key, "civiclake-mask-v1:" + dept)``.
Equal values still join and count alike within a department; the same name in
two departments masks differently, so one department's masked column cannot be
joined to another's to re-identify people. Without the key, building a
dictionary (hashing every name in the electoral roll) matches nothing.

The key lives in the environment (``access.masking_key: ${CIVICLAKE_MASKING_KEY}``)
and never in SQL text: DuckDB sessions compute masks through a Python function
registered on the connection (the SQL guard refuses calls to it), and the
warehouse receives values already masked. ``redact`` shows ``***`` and needs no key.

A project whose datasets carry PII and whose masking is ``hash`` cannot serve
without a key: a missing key is an error, never a silent unkeyed hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from civiclake.config.secrets import MASKING_KEY_ENV as KEY_ENV
from civiclake.exceptions import ConfigError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from civiclake.config.models import AccessConfig
    from civiclake.config.secrets import Secret

MIN_KEY_CHARS = 32
HEX_DIGITS = 16
REDACTED = "***"
CACHE_VALUES = 50_000
"""Masks kept per department between calls (about 5 MB at most), then forgotten."""
FUNCTION_PREFIX = "__civiclake_mask_"
"""Masking functions registered on DuckDB connections start with this (the guard refuses them)."""


@dataclass
class Masker:
    """Masks values for one project: ``hash`` (keyed HMAC) or ``redact``."""

    method: str = "hash"
    key: str | None = field(default=None, repr=False)
    """The project's masking key (revealed); ``None`` is an error only once hashing is needed."""
    secret: Secret | None = None
    """Where the key comes from (``${CIVICLAKE_MASKING_KEY}``), revealed only when first needed,
    so a caller who sees no masked column never needs the key."""
    _department_keys: dict[str, bytes] = field(default_factory=dict, repr=False)
    _cache: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, config: AccessConfig) -> Masker:
        return cls(config.masking, secret=config.masking_key)

    def check(self) -> None:
        """Raise :class:`ConfigError` unless this masker can mask (a key long enough for hash)."""
        if self.method != "hash":
            return
        if not self.key and self.secret is not None:
            try:
                self.key = self.secret.reveal()
            except ConfigError as exc:
                raise ConfigError(f"PII is masked by keyed hash, but {exc}") from None
        if not self.key:
            raise ConfigError(
                "PII is masked by keyed hash but no masking key is set: add "
                f"`access: {{masking_key: ${{{KEY_ENV}}}}}` to civiclake.yaml and put "
                f"{KEY_ENV}=<key> in the project's .env (`civiclake access key` makes one), "
                "or set `access: {masking: redact}`"
            )
        if len(self.key) < MIN_KEY_CHARS:
            raise ConfigError(
                f"the masking key is {len(self.key)} characters; use at least {MIN_KEY_CHARS} "
                "random characters (`civiclake access key` makes one)"
            )

    def department_key(self, department: str) -> bytes:
        found = self._department_keys.get(department)
        if found is None:
            self.check()  # reveals the key
            assert self.key is not None
            found = hmac.new(
                self.key.encode("utf-8"),
                b"civiclake-mask-v1:" + department.encode("utf-8"),
                hashlib.sha256,
            ).digest()
            self._department_keys[department] = found
        return found

    def mask_text(self, department: str, value: str | None) -> str | None:
        """One value masked as ``department``'s datasets show it; NULL stays NULL."""
        if value is None:
            return None
        if self.method == "redact":
            return REDACTED
        digest = hmac.new(self.department_key(department), value.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:HEX_DIGITS]

    def mask_array(self, department: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """An Arrow string array masked value by value (NULLs kept)."""
        import pyarrow as pa

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
            values = values.cast(pa.string())
        if self.method == "redact":
            return pa.array(
                [None if v is None else REDACTED for v in values.to_pylist()], pa.string()
            )
        import pyarrow.compute as pc

        # Each distinct value is hashed once, as HMAC's two SHA-256 passes from the inner
        # and outer pad states prepared once per call (RFC 2104): 1.2 µs a value here,
        # against 2 µs for copying a prepared hmac object (bench/masking.py).
        # DuckDB calls this once per vector of 2,048 rows, so values seen in earlier vectors
        # come from a bounded cache of this department's masks.
        encoded = pc.dictionary_encode(values)
        inner, outer = _pads(self.department_key(department))
        cache = self._cache.setdefault(department, {})
        if len(cache) > CACHE_VALUES:
            cache.clear()
        masked = []
        for v in encoded.dictionary.to_pylist():
            found = cache.get(v)
            if found is None:
                i = inner.copy()
                i.update(v.encode("utf-8"))
                o = outer.copy()
                o.update(i.digest())
                found = cache[v] = o.hexdigest()[:HEX_DIGITS]
            masked.append(found)
        return pc.take(pa.array(masked, pa.string()), encoded.indices)

    # -- DuckDB ---------------------------------------------------------------
    def register(self, con: duckdb.DuckDBPyConnection, department: str) -> str:
        """Register ``department``'s masking function on ``con``; returns its SQL name.

        The key stays in this process: the function's SQL text is only its name.
        """
        import duckdb

        name = function_name(department)

        def mask(values: Any) -> Any:
            return self.mask_array(department, values)

        with contextlib.suppress(duckdb.NotImplementedException):  # registered already
            con.create_function(  # type: ignore[call-overload]  # stubs lack the string enums
                name,
                mask,
                [duckdb.sqltype("VARCHAR")],
                duckdb.sqltype("VARCHAR"),
                type="arrow",
                null_handling="special",
                side_effects=False,
            )
        return name

    def sql(self, column_sql: str, department: str) -> str:
        """SQL masking ``column_sql`` (a quoted identifier) for ``department``."""
        if self.method == "redact":
            return f"CASE WHEN {column_sql} IS NULL THEN NULL ELSE '{REDACTED}' END"
        return f"{function_name(department)}(CAST({column_sql} AS VARCHAR))"


def _pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after HMAC's inner and outer padded keys (``key`` is 32 bytes)."""
    block = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def function_name(department: str) -> str:
    """The DuckDB function masking ``department``'s values."""
    import re

    return FUNCTION_PREFIX + re.sub(r"[^a-z0-9]", "_", department.lower())
