"""A run's hold on the datasets it writes: leases taken up front, renewed, fenced, released.

Two runs that write a dataset in common never write it at the same time: the second waits
(``run.lock_wait_seconds``) and then starts, or stops with a message naming who holds the
dataset and since when. Runs writing different datasets go ahead side by side. While a
run works, a thread renews its leases; every write through the catalog first checks that
the run still holds the dataset, so a run that stalled past its lease (and lost it to
another) stops instead of committing on top of the newer writer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from civiclake.exceptions import CivicLakeError
from civiclake.metadata.leases import Held, Lease, LeaseLost, Leases

if TYPE_CHECKING:
    import logging

    from civiclake.project import Project
    from civiclake.storage import DatasetRef

_SIBLINGS = ("__rejected", "__history")
"""Tables a step writes beside its declared dataset, held by the same lease."""


class DatasetsBusy(CivicLakeError):
    """Another run held a dataset this run writes for longer than the run would wait."""


def held_message(held: Held, waited: float) -> str:
    since = held.since.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{held.resource} is being written by {held.holder} (pid {held.pid} on {held.host}) "
        f"since {since}; waited {waited:.0f}s. Run again when it has finished (see "
        "`civiclake runs`), or raise run.lock_wait_seconds to wait longer"
    )


@contextmanager
def holding(
    project: Project,
    resources: Sequence[str],
    *,
    holder: str,
    run_id: int,
    log: logging.Logger,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[Lease]]:
    """Hold ``resources`` for the block; the catalog refuses writes once a lease is lost."""
    cfg = project.config.run
    leases = Leases(project.store)
    deadline = time.monotonic() + cfg.lock_wait_seconds
    started = time.monotonic()
    announced = False
    while True:
        taken = leases.acquire(resources, holder=holder, ttl=cfg.lease_seconds, run_id=run_id)
        if not isinstance(taken, Held):
            break
        if time.monotonic() >= deadline:
            raise DatasetsBusy(held_message(taken, time.monotonic() - started))
        if not announced:
            log.warning("waiting: %s", held_message(taken, 0))
            announced = True
        sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    held = {lease.resource: lease for lease in taken}
    lost: list[str] = []
    stop = threading.Event()

    def renew() -> None:
        nonlocal held
        while not stop.wait(cfg.lease_seconds / 3):
            try:
                renewed = leases.renew(list(held.values()), ttl=cfg.lease_seconds)
            except LeaseLost as exc:
                lost.append(str(exc))
                log.error("%s", exc)
                return
            except CivicLakeError as exc:  # the store is busy: try again next beat
                log.warning("could not renew the leases yet: %s", exc)
                continue
            held = {lease.resource: lease for lease in renewed}

    def fence(ref: DatasetRef) -> None:
        name = ref.qualified
        for suffix in _SIBLINGS:
            if name.endswith(suffix) and name[: -len(suffix)] in held:
                name = name[: -len(suffix)]
        lease = held.get(name)
        if lease is None:
            return  # not a dataset this run declared it writes
        if lost:
            raise LeaseLost(lost[0])
        leases.check(lease)

    beat = threading.Thread(target=renew, name="civiclake-leases", daemon=True)
    beat.start()
    project.catalog.fence = fence
    try:
        yield taken
    finally:
        project.catalog.fence = None
        stop.set()
        beat.join()
        leases.release(list(held.values()))


__all__ = ["DatasetsBusy", "held_message", "holding"]
