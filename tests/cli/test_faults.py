"""Faults of the machine end in one clear message and a non-zero exit, and lose nothing.

* a disk that fills mid-run: a real tmpfs, small, filled to a known slack (we are root in
  CI; elsewhere the test is skipped, saying so);
* a metadata database held locked by another process (``BEGIN IMMEDIATE``) for longer than
  ``metadata.busy_timeout_seconds``.

Both run the ``civiclake`` command in a subprocess, as cron would.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from civiclake import init_project

DATASET = "housing_raw.rents"


def civiclake(project: Path, *args: str, timeout: float = 120) -> tuple[int, str]:
    """``civiclake ARGS -p PROJECT`` in a new process: its exit code and all it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "civiclake", *args, "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )
    return done.returncode, done.stdout + done.stderr


def _no_driver_text(text: str) -> None:
    for driver in ("Traceback", "--- Logging error ---", "sqlite3.", "OperationalError"):
        assert driver not in text, text


def _files_project(root: Path, **metadata: object) -> Path:
    project = init_project(root / "council", departments=["housing"])
    if metadata:
        config = project / "civiclake.yaml"
        text = config.read_text(encoding="utf-8")
        extra = "".join(f"  {k}: {v}\n" for k, v in metadata.items())
        text = text.replace(
            "  url: sqlite:///.civiclake/metadata.db\n",
            "  url: sqlite:///.civiclake/metadata.db\n" + extra,
        )
        config.write_text(text, encoding="utf-8")
    source = project / "sources" / "housing" / "rents.yaml"
    source.write_text("type: files\nmin_file_age_seconds: 0\n", encoding="utf-8")
    return project


def _inbox(project: Path) -> Path:
    inbox = project / "data" / "landing" / "housing" / "rents"
    inbox.mkdir(parents=True, exist_ok=True)
    return inbox


def _big_csv(path: Path, rows: int, seed: int) -> None:
    """A CSV whose Parquet is a few hundred KB (random doubles do not compress)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write("id,amount,score\n")
        for i in range(rows):
            f.write(f"{i},{rng.random()},{rng.random()}\n")


def _count(project: Path) -> int:
    code, text = civiclake(project, "query", f"SELECT count(*) AS n FROM {DATASET}", "-f", "json")
    assert code == 0, text
    return int(json.loads(text)[0]["n"])


# -- a disk that fills -----------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 12 MB tmpfs mounted for the test, unmounted after."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_kb: int) -> Path:
    """Fill ``disk`` until only ``leave_kb`` KB are free; returns the filler to delete."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as f:
        f.write(b"\0" * max(free - leave_kb * 1024, 0))
    return filler


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_fails_clearly_and_the_rerun_is_correct(
    small_disk: Path,
) -> None:
    project = _files_project(small_disk)
    inbox = _inbox(project)
    (inbox / "first.csv").write_text("id,amount,score\n1,1.5,0.5\n", encoding="utf-8")
    code, text = civiclake(project, "run")
    assert code == 0, text
    _big_csv(inbox / "big.csv", 30_000, seed=1)

    # room for the metadata writes, not for big.csv's Parquet: the step fails, the run is
    # recorded, the summary prints
    filler = _fill(small_disk, leave_kb=200)
    code, text = civiclake(project, "run")
    assert code == 1, text
    _no_driver_text(text)
    flat = " ".join(text.split())
    assert "failed housing/rents: the disk is full" in flat
    assert "while loading big.csv" in flat and "Free space on that disk" in flat
    assert "1 step in" in flat  # the summary
    assert (inbox / "big.csv").exists()  # not taken: it is loaded by the next run

    # no room even for the metadata store: one line naming it
    filler.unlink()
    filler = _fill(small_disk, leave_kb=8)
    code, text = civiclake(project, "run")
    assert code == 1, text
    _no_driver_text(text)
    flat = " ".join(text.split())
    assert "metadata.db" in flat and "the disk is full" in flat, flat

    filler.unlink()
    code, text = civiclake(project, "run")
    assert code == 0, text
    assert _count(project) == 30_001  # each file exactly once
    code, text = civiclake(project, "doctor")
    assert code == 0, text


# -- a metadata store held locked ------------------------------------------------------------
HOLD = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A project whose metadata database another process holds the write lock of."""
    project = _files_project(tmp_path, busy_timeout_seconds=1)
    (_inbox(project) / "a.csv").write_text("id,amount\n1,2.5\n", encoding="utf-8")
    code, text = civiclake(project, "run")
    assert code == 0, text
    (_inbox(project) / "b.csv").write_text("id,amount\n2,3.5\n", encoding="utf-8")
    database = project / ".civiclake" / "metadata.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    try:
        yield project, holder
    finally:
        if holder.poll() is None:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(timeout=10)


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=10)


def test_a_locked_metadata_store_stops_run_with_one_line_naming_it(
    held: tuple[Path, subprocess.Popen[str]],
) -> None:
    project, holder = held
    code, text = civiclake(project, "run")
    assert code == 1, text
    _no_driver_text(text)
    flat = " ".join(text.split())
    assert flat.count("error:") == 1
    assert str(project / ".civiclake" / "metadata.db") in flat
    assert "metadata.busy_timeout_seconds" in flat and "run the command again" in flat
    assert (_inbox(project) / "b.csv").exists()  # nothing was taken

    _release(holder)
    code, text = civiclake(project, "run")
    assert code == 0, text
    assert _count(project) == 2


def test_query_reads_while_the_store_is_locked_and_an_audited_one_says_why_it_cannot(
    held: tuple[Path, subprocess.Popen[str]],
) -> None:
    project, holder = held
    assert _count(project) == 1  # an open project's query writes nothing: it is answered
    _release(holder)
    code, text = civiclake(project, "access", "grant", "ana", "-d", "housing", "-r", "engineer")
    assert code == 0, text
    database = project / ".civiclake" / "metadata.db"
    again = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert again.stdout is not None and again.stdout.readline().strip() == "held"
        code, text = civiclake(project, "query", f"SELECT count(*) FROM {DATASET}", "--as", "ana")
        assert code == 1, text  # its audit record could not be written
        _no_driver_text(text)
        flat = " ".join(text.split())
        assert str(database) in flat and "busy" in flat
    finally:
        _release(again)
