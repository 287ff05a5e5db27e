"""Lineage columns: every row civiclake writes can be traced to its run and file.

All share one prefix, ``_``; user columns never start with it (names are
normalised to snake_case, which strips leading underscores).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

PREFIX = "_"
IMPORT_ID = "_import_id"
"""The run step that wrote the row (see ``civiclake runs show``)."""
IMPORTED_AT = "_imported_at"
"""When the row was written (UTC)."""
SOURCE_FILE = "_source_file"
"""The landing file the row came from, relative to the storage root."""
SOURCE_ROW = "_source_row"
"""The row's 1-based line (CSV/NDJSON) or row (Excel) in that file."""

ALL = (IMPORT_ID, IMPORTED_AT, SOURCE_FILE, SOURCE_ROW)


def new_import_id(now: datetime | None = None) -> str:
    """Sortable, unique: ``20261127T205012Z-1a2b3c4d``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"
