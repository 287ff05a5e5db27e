"""The one place DuckDB connections are made, with the project's limits.

Every connection civiclake opens — a job's session, applying history, loading a file, typing
API records, publishing, the Kafka consumer's look-ups — comes from a :class:`Connections`,
so the project's ``engine.threads``, ``engine.memory_limit`` and spill folder apply everywhere
and another engine can be given the same settings in one place::

    connections = Connections(threads=4, memory_limit="8GB", temp_directory=Path("tmp"))
    with connections.connect() as con:
        con.sql("SELECT 42").fetchall()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


_SPILL_FOLDER: ContextVar[Path | None] = ContextVar("civiclake_spill_folder", default=None)


@contextmanager
def spill_folder(folder: Path) -> Iterator[Path]:
    """Connections opened in this thread inside the block spill to ``folder`` (a step's own
    sub-folder of the spill folder, so what it spilled can be measured apart from the others)."""
    token = _SPILL_FOLDER.set(folder)
    try:
        yield folder
    finally:
        _SPILL_FOLDER.reset(token)


@dataclass(frozen=True)
class Connections:
    """Opens DuckDB connections with one set of limits."""

    threads: int = 2
    memory_limit: str = "4GB"
    temp_directory: Path | None = None
    """Where DuckDB spills what does not fit in ``memory_limit`` (its default when None)."""

    def open(
        self, *, ordered: bool = True, timezone: str | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A new connection; the caller closes it (or use :meth:`connect`).

        ``ordered=False`` lets DuckDB write rows in any order, for outputs where row order
        carries no meaning (history files are ordered by ``_seq``, not by position).
        ``timezone`` sets the session time zone (e.g. ``UTC`` for parsing timestamps).
        """
        import duckdb

        config: dict[str, Any] = {"threads": self.threads, "memory_limit": self.memory_limit}
        temp = _SPILL_FOLDER.get() if self.temp_directory is not None else None
        temp = temp or self.temp_directory
        if temp is not None:
            temp.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(temp)
        if not ordered:
            config["preserve_insertion_order"] = False
        con = duckdb.connect(config=config)
        con.execute("SET enable_progress_bar = false")
        if timezone is not None:
            quoted = timezone.replace("'", "''")
            con.execute(f"SET TimeZone = '{quoted}'")
        return con

    @contextmanager
    def connect(
        self, *, ordered: bool = True, timezone: str | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """:meth:`open`, closed when the block ends."""
        con = self.open(ordered=ordered, timezone=timezone)
        try:
            yield con
        finally:
            con.close()


DEFAULT = Connections()
"""For work outside a project (listing DuckDB's functions, tests of a single module)."""

__all__ = ["DEFAULT", "Connections", "spill_folder"]
