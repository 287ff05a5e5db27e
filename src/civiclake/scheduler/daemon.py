"""``civiclake scheduler``: tick until told to stop, as the leader of any schedulers running.

Several scheduler processes may run against one metadata store (two machines, for
failover); one leads. Leadership is a lease on the ``scheduler`` resource in the same
lease table as the datasets' (:mod:`civiclake.metadata.leases`), renewed every tick; a
standby takes over when the leader's lease expires (at once when the leader's process on
the same host is gone). On SIGTERM (systemd's stop) or Ctrl-C the scheduler starts nothing
more, lets the running runs finish, gives up the lease and exits 0; a second signal stops
it at once (the runs' own crash recovery then applies).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from civiclake.metadata.leases import Held, Lease, LeaseLost, Leases
from civiclake.scheduler.core import Scheduler

_LOG = logging.getLogger("civiclake.scheduler")
LEADER = "scheduler"
"""The lease resource the leading scheduler holds."""


@dataclass
class Leadership:
    """This process's claim to lead, taken and renewed tick by tick."""

    leases: Leases
    ttl: float
    holder: str = f"scheduler (pid {os.getpid()} on {socket.gethostname()})"
    held: list[Lease] | None = None
    standby_for: str | None = None

    def claim(self) -> bool:
        """Lead (taking or renewing the lease); False while another scheduler leads."""
        if self.held:
            try:
                self.held = self.leases.renew(self.held, ttl=self.ttl)
                return True
            except LeaseLost:
                _LOG.warning("lost the scheduler lease to another scheduler; standing by")
                self.held = None
        taken = self.leases.acquire([LEADER], holder=self.holder, ttl=self.ttl)
        if isinstance(taken, Held):
            if self.standby_for != taken.holder:
                _LOG.info("standing by: %s leads since %s", taken.holder, f"{taken.since:%H:%M:%S}")
                self.standby_for = taken.holder
            return False
        _LOG.info("leading: %s", self.holder)
        self.held, self.standby_for = taken, None
        return True

    def release(self) -> None:
        if self.held:
            self.leases.release(self.held)
            self.held = None


def serve(scheduler: Scheduler, *, max_ticks: int | None = None) -> int:
    """Tick until :meth:`Scheduler.request_stop` (or ``max_ticks`` ticks as leader), then
    drain; returns the number of ticks done as leader."""
    cfg = scheduler.cfg
    leader = Leadership(Leases(scheduler.project.store), ttl=max(90.0, 3 * cfg.tick_seconds))
    ticks = 0
    try:
        while not scheduler.stopping.is_set() and (max_ticks is None or ticks < max_ticks):
            scheduler.woken.clear()
            if leader.claim():
                scheduler.tick()
                ticks += 1
                pause = (scheduler.next_wake() - scheduler.clock.now()).total_seconds()
            else:
                pause = cfg.tick_seconds
            if not scheduler.stopping.is_set():
                scheduler.clock.sleep(min(pause, cfg.tick_seconds, leader.ttl / 3), scheduler.woken)
    finally:
        if scheduler.stopping.is_set():
            _LOG.info("stopping: letting %d running step(s) finish", len(scheduler.running()))
        scheduler.shutdown()
        leader.release()
    return ticks


__all__ = ["LEADER", "Leadership", "serve"]
