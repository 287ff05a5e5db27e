"""PII masked in civiclake, before the warehouse sees it.

A masked value is :class:`~civiclake.access.masking.Masker`'s keyed HMAC, and the key
must not reach PostgreSQL: every login can read view definitions (``pg_views``), so a
key or salt in a view is a key handed to every analyst, and a hash function in SQL
lets them hash a dictionary of names. So each PII column ``c`` is published with a
copy, ``__masked__c``, computed from the same DuckDB read as the row, by the same
function the SQL API and the CLI mask with (registered on the publish connection).
Full and incremental publishes alike simply copy one more column; the masked views
select ``__masked__c AS c``. A masked value in PostgreSQL therefore equals the one
the SQL API returns to the same department's analysts.

The copies sit in the PII-granted tables (whose readers see the real values anyway).
What they were masked with is part of the published signature (:func:`signature`): a
new key, a switch to ``redact`` or a newly tagged PII column makes the next publish
a full one, so no table keeps masks from an old key.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from civiclake.access.masking import Masker

MASKED_PREFIX = "__masked__"
FINGERPRINT_INPUT = "civiclake-publish-fingerprint"


def masked_column(column: str) -> str:
    """The name of ``column``'s masked copy (≤ 63 bytes: PostgreSQL cuts longer names)."""
    name = MASKED_PREFIX + column
    if len(name.encode()) > 63:
        digest = hashlib.sha256(column.encode()).hexdigest()[:8]
        name = name.encode()[:54].decode(errors="ignore") + "_" + digest
    return name


def is_masked_column(column: str) -> bool:
    return column.startswith(MASKED_PREFIX)


def mask_selects(
    masker: Masker, con: duckdb.DuckDBPyConnection, department: str, columns: list[str]
) -> list[str]:
    """``<mask SQL> AS "__masked__c"`` for each of ``columns``, the function put on ``con``."""
    from civiclake.publish.warehouse import q

    if not columns:
        return []
    if masker.method == "hash":
        masker.register(con, department)
    return [f"{masker.sql(q(c), department)} AS {q(masked_column(c))}" for c in columns]


def signature(masker: Masker, department: str, columns: list[str]) -> list[list[str]]:
    """What the masked copies were made with, for the published record (no key in it).

    The fingerprint is the mask of a fixed text: it changes with the key or the method,
    and tells nothing about the key (recovering a 32-character random key from an HMAC
    is not feasible). The record is in ``_civiclake``, which no reader may open anyway.
    """
    if not columns:
        return []
    mark = masker.mask_text(department, FINGERPRINT_INPUT) or ""
    return [[masked_column(c), f"mask:{masker.method}:{mark}"] for c in sorted(columns)]
