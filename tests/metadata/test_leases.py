"""Leases: one writer per dataset across processes, expiring, fenced by a token."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from civiclake.metadata import MetadataStore
from civiclake.metadata.leases import Held, Lease, LeaseLost, Leases


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    return MetadataStore(f"sqlite:///{tmp_path}/m.db")


def test_a_second_holder_is_told_who_holds_a_dataset_and_since_when(store: MetadataStore) -> None:
    leases = Leases(store)
    first = leases.acquire(["housing_raw.rents", "housing_refined.x"], holder="run 1", ttl=60)
    assert isinstance(first, list) and [lease.token for lease in first] == [1, 1]
    busy = leases.acquire(["parking_raw.permits", "housing_raw.rents"], holder="run 2", ttl=60)
    assert isinstance(busy, Held)
    assert (busy.resource, busy.holder) == ("housing_raw.rents", "run 1")
    # all or none: the free dataset was not taken by the refused run
    assert [h.resource for h in leases.held()] == ["housing_raw.rents", "housing_refined.x"]


def test_different_datasets_are_held_side_by_side(store: MetadataStore) -> None:
    leases = Leases(store)
    assert isinstance(leases.acquire(["housing_raw.rents"], holder="run 1", ttl=60), list)
    assert isinstance(leases.acquire(["parking_raw.permits"], holder="run 2", ttl=60), list)


def test_released_and_expired_leases_are_free_again(store: MetadataStore) -> None:
    leases = Leases(store)
    taken = leases.acquire(["housing_raw.rents"], holder="run 1", ttl=60)
    assert isinstance(taken, list)
    leases.release(taken)
    short = leases.acquire(["housing_raw.rents"], holder="run 2", ttl=0.2)
    assert isinstance(short, list) and short[0].token == 2
    time.sleep(0.3)
    after = leases.acquire(["housing_raw.rents"], holder="run 3", ttl=60)
    assert isinstance(after, list) and after[0].token == 3


def test_a_holder_that_lost_its_lease_is_refused_its_commit(store: MetadataStore) -> None:
    """Fencing: run 1 stalls past its lease, run 2 takes the dataset; run 1 may not write."""
    leases = Leases(store)
    stale = leases.acquire(["housing_raw.rents"], holder="run 1", ttl=0.2)
    assert isinstance(stale, list)
    leases.check(stale[0])
    time.sleep(0.3)
    fresh = leases.acquire(["housing_raw.rents"], holder="run 2", ttl=60)
    assert isinstance(fresh, list)
    with pytest.raises(LeaseLost, match=r"housing_raw\.rents"):
        leases.check(stale[0])
    with pytest.raises(LeaseLost):
        leases.renew(stale, ttl=60)
    leases.release(stale)  # a stale release leaves the new holder's lease alone
    leases.check(fresh[0])


def test_renewing_keeps_the_lease_past_its_first_ttl(store: MetadataStore) -> None:
    leases = Leases(store)
    held: list[Lease] | Held = leases.acquire(["housing_raw.rents"], holder="run 1", ttl=0.4)
    assert isinstance(held, list)
    for _ in range(3):
        time.sleep(0.2)
        held = leases.renew(held, ttl=0.4)
    assert isinstance(leases.acquire(["housing_raw.rents"], holder="run 2", ttl=60), Held)


def test_a_dead_holder_on_this_machine_frees_its_datasets_at_once(
    store: MetadataStore, tmp_path: Path
) -> None:
    """A run SIGKILLed (cron killed it, the OOM killer) does not block the next for its TTL."""
    code = (
        "import sys\n"
        "from civiclake.metadata import MetadataStore\n"
        "from civiclake.metadata.leases import Leases\n"
        f"store = MetadataStore('sqlite:///{tmp_path}/m.db')\n"
        "Leases(store).acquire(['housing_raw.rents'], holder='run 1', ttl=3600)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # exits holding the lease
    assert Leases(store).held() == []  # what the scheduler and status look at agrees
    taken = Leases(store).acquire(["housing_raw.rents"], holder="run 2", ttl=60)
    assert isinstance(taken, list) and taken[0].token == 2
