"""A process killed during the metadata store's first migration leaves nothing half-made."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests import _faults

from civiclake.metadata import MetadataStore

CHILD = """
import sys
from alembic.operations import Operations
import _faults
from civiclake.metadata import MetadataStore

# killed mid-migration, just after its third table is created
_faults.kill_at(Operations, "create_table", 3, when="after")
MetadataStore(sys.argv[1])
"""


def test_a_migration_killed_midway_is_redone_from_scratch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    script = f"import sys; sys.path.insert(0, {_faults.TESTS!r})\n" + CHILD
    child = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    store = MetadataStore(url)  # would fail with "table ... already exists"
    store.set_cursor("a", "b", "c")
    assert store.get_cursor("a", "b") == "c"
    store.close()
