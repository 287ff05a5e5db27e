"""What a step cost: CPU time, bytes read and DuckDB's spill to disk, measured around it.

The measures are the process's, taken over the step's window, because a step's work is done
by DuckDB's and delta-rs's own threads as much as by the runner's worker thread (a per-thread
clock would see almost nothing of a DuckDB query):

- ``cpu_seconds``: user + system CPU time of the whole process between the step's start and
  end (``getrusage``), i.e. DuckDB's threads included.
- ``bytes_read``: bytes the process read from files and sockets in that window (Linux
  ``/proc/self/io`` ``rchar``; page-cache hits count, since they are bytes the step consumed).
  None where the platform does not report it.
- ``spilled_bytes``: the high-water mark of the step's own spill folder
  (``.civiclake/tmp/step-<id>``; :func:`~civiclake.storage.connections.spill_folder` points
  the step thread's DuckDB connections there), sampled every 50 ms while it runs.

Exact when the step ran alone. When steps overlap in one run, CPU and bytes read are shared by
all of them (each records the process total of its window); ``civiclake advise`` knows the
windows from the run history and uses only solo runs for advice that depends on them.
"""

from __future__ import annotations

import os
import resource
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from civiclake.storage.connections import spill_folder

SAMPLE_SECONDS = 0.05
"""How often the spill folder's size is sampled."""


@dataclass(frozen=True)
class Telemetry:
    cpu_seconds: float
    bytes_read: int | None
    spilled_bytes: int


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bytes_read() -> int | None:
    """Bytes this process has read so far (``rchar``), None where Linux's counter is missing."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return None


def _folder_size(folder: Path) -> int:
    total = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:  # a temp file removed between listing and stat
            continue
    return total


class StepMeter:
    """Measures one step; use as a context manager in the thread that runs it::

    with StepMeter(project_tmp / f"step-{step_id}") as meter:
        step.run(ctx)
    meter.result  # Telemetry
    """

    def __init__(self, folder: Path, *, interval: float = SAMPLE_SECONDS) -> None:
        self.folder = folder
        self.interval = interval
        self.result = Telemetry(0.0, None, 0)
        self._peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(
            target=self._sample, name=f"civiclake-meter-{folder.name}", daemon=True
        )

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _folder_size(self.folder))

    def __enter__(self) -> StepMeter:
        self._cpu = cpu_seconds()
        self._read = bytes_read()
        self._scope = spill_folder(self.folder)
        self._scope.__enter__()
        self._sampler.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._sampler.join()
        self._scope.__exit__(kind, exc, tb)
        self._peak = max(self._peak, _folder_size(self.folder))
        read = bytes_read()
        self.result = Telemetry(
            cpu_seconds=round(cpu_seconds() - self._cpu, 3),
            bytes_read=None if read is None or self._read is None else read - self._read,
            spilled_bytes=self._peak,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["SAMPLE_SECONDS", "StepMeter", "Telemetry", "bytes_read", "cpu_seconds"]
