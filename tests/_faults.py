"""Deterministic fault points for crash tests: SIGKILL this process at the N-th call of a method.

A crash test runs the work in a child process that installs a fault point first, so the kill
lands at a known place (just before, or just after, the N-th commit) rather than after a delay:

* :func:`kill_at` wraps any method or function (``obj.name``);
* :func:`kill_at_delta_commit` wraps every call through which :class:`TableStore` commits to a
  Delta table, with one count for all of them;
* :func:`install_from_env` does the latter from ``CIVICLAKE_FAULT`` (``before:N``, ``after:N``,
  or ``count``), for children started with :func:`child_env` — e.g. ``python -c PRELUDE + ...``
  or ``python -c RUN_CLI ...`` for the ``civiclake`` command itself.

Every call counted is appended to ``CIVICLAKE_FAULT_LOG`` (one line each, written before the
kill), so the parent counts the commits of an unkilled run with :func:`calls` and can check
that a killed run died where it was meant to.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

When = Literal["before", "after", "pause"]
FAULT_ENV = "CIVICLAKE_FAULT"
LOG_ENV = "CIVICLAKE_FAULT_LOG"
TESTS = str(Path(__file__).resolve().parent)

PRELUDE = f"import sys; sys.path.insert(0, {TESTS!r}); import _faults; _faults.install_from_env()\n"
"""First line of a ``python -c`` child script: installs the fault point named in its env."""

RUN_CLI = PRELUDE + "import runpy; runpy.run_module('civiclake', run_name='__main__')\n"
"""``python -c RUN_CLI ARGS...`` is ``python -m civiclake ARGS...`` with the fault point."""


class Counter:
    """Calls seen so far across the methods sharing it; each is logged to ``log`` if given."""

    def __init__(self, log: str | None = None) -> None:
        self.n = 0
        self.log = log

    def tick(self, label: str) -> int:
        self.n += 1
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{self.n} {label}\n")
        return self.n


def _pause(log: str | None) -> None:
    """Hold here until the parent says go: ``<log>.paused`` appears, then wait for ``<log>.go``."""
    import time

    assert log, "a pause point needs CIVICLAKE_FAULT_LOG"
    Path(log + ".paused").touch()
    while not Path(log + ".go").exists():
        time.sleep(0.05)


def _kill() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at(
    target: Any,
    method_name: str,
    n: int | None,
    when: When = "before",
    *,
    counter: Counter | None = None,
) -> Counter:
    """Make the ``n``-th call of ``target.method_name`` SIGKILL this process.

    ``before``: the real call does not happen; ``after``: it returns, then the kill;
    ``pause``: no kill, the call waits until the parent releases it (see :func:`_pause`). ``n`` None
    only counts. Pass one ``counter`` to several methods to count their calls together.
    """
    if when not in ("before", "after", "pause"):
        raise ValueError(f"when must be 'before', 'after' or 'pause', not {when!r}")
    counter = counter or Counter()
    original: Callable[..., Any] = getattr(target, method_name)
    label = f"{getattr(target, '__name__', type(target).__name__)}.{method_name}"

    @functools.wraps(original)
    def faulty(*args: Any, **kwargs: Any) -> Any:
        call = counter.tick(f"{label} {_table_of(args)}".rstrip())
        if call == n and when == "before":
            _kill()
        if call == n and when == "pause":
            _pause(counter.log)
        result = original(*args, **kwargs)
        if call == n and when == "after":
            _kill()
        return result

    setattr(target, method_name, faulty)
    return counter


def _table_of(args: tuple[Any, ...]) -> str:
    """The last three parts (zone/department/name) of the table a call commits to, if seen."""
    if not args:
        return ""
    first = args[0]
    uri = first if isinstance(first, str | os.PathLike) else getattr(first, "table_uri", None)
    if uri is None:  # TableMerger: its RawDeltaTable
        uri = getattr(getattr(first, "_table", None), "table_uri", None)
    if callable(uri):
        uri = uri()
    return "/".join(str(uri).rstrip("/").split("/")[-3:]) if uri else ""


def delta_commit_points() -> list[tuple[Any, str]]:
    """The delta-rs calls through which :class:`~civiclake.storage.delta.TableStore` commits.

    Each call is one Delta commit (``vacuum``: one pair). ``TableStore`` has no single method
    below them all: ``_commit`` and ``commit_files`` use the first two (and may return None
    without committing), ``_write_arrow`` the third, ``merge`` the fourth, ``vacuum`` the
    last. ``TableStore`` imports them when called, so patching the modules and classes here
    reaches it.
    """
    import deltalake
    import deltalake.table
    import deltalake.transaction

    return [
        (deltalake.transaction, "create_table_with_add_actions"),
        (deltalake.DeltaTable, "create_write_transaction"),
        (deltalake, "write_deltalake"),
        (deltalake.table.TableMerger, "execute"),
        (deltalake.DeltaTable, "vacuum"),  # two commits: VACUUM START and VACUUM END
    ]


def kill_at_delta_commit(
    n: int | None, when: When = "before", *, log: str | None = None
) -> Counter:
    """SIGKILL just ``before`` or ``after`` the ``n``-th Delta commit of this process."""
    counter = Counter(log)
    for target, name in delta_commit_points():
        kill_at(target, name, n, when, counter=counter)
    return counter


def install_from_env() -> Counter | None:
    """:func:`kill_at_delta_commit` as ``CIVICLAKE_FAULT`` says; nothing when it is unset."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return None
    log = os.environ.get(LOG_ENV) or None
    if spec == "count":
        return kill_at_delta_commit(None, log=log)
    when, _, n = spec.partition(":")
    return kill_at_delta_commit(int(n), when, log=log)  # type: ignore[arg-type]


def child_env(log: Path, when: When | None = None, n: int | None = None) -> dict[str, str]:
    """The environment of a child that counts its commits into ``log`` (and is killed at one)."""
    spec = "count" if n is None else f"{when or 'before'}:{n}"
    return {**os.environ, FAULT_ENV: spec, LOG_ENV: str(log)}


def calls(log: Path) -> list[str]:
    """The calls a child logged, in order: ``"module.method zone/dept/name"``."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split(" ", 1)[1] for line in lines]


def points(total: int) -> list[tuple[When, int]]:
    """Every fault point of a run making ``total`` commits: before and after each."""
    return [(when, n) for n in range(1, total + 1) for when in ("before", "after")]
