"""A process killed during the metadata store's first migration leaves nothing half-made."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from civiclake.metadata import MetadataStore

CHILD = """
import sys, time
from alembic.operations import Operations
from civiclake.metadata import MetadataStore

original = Operations.create_table
made = []

def slow_create_table(self, name, *columns, **kw):
    made.append(name)
    result = original(self, name, *columns, **kw)
    if len(made) == 3:
        print("ready", flush=True)
        time.sleep(60)  # killed here, mid-migration
    return result

Operations.create_table = slow_create_table
MetadataStore(sys.argv[1])
"""


def test_a_migration_killed_midway_is_redone_from_scratch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.stdout.readline().strip() != "ready":
        pass
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    store = MetadataStore(url)  # would fail with "table ... already exists"
    store.set_cursor("a", "b", "c")
    assert store.get_cursor("a", "b") == "c"
    store.close()
