"""The engine interface: what a SQL/compute engine must offer civiclake.

DuckDB implements it for one machine; a Spark engine implements the same
methods at scale. Job SQL is written in the project's dialect (DuckDB's) and
handed to an engine through :meth:`Session.sql`, which transpiles it with
sqlglot when the engine speaks another dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from civiclake.registry import Registry

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.storage import DatasetRef, TableStore


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, so callers never test ``isinstance``."""

    embedded: bool
    """Runs inside this process (no cluster to start)."""
    native_frames: str
    """What Python jobs receive as inputs: ``duckdb`` relations, ``spark`` DataFrames…"""


class Session(Protocol):
    """One connection to an engine, used by one thread."""

    def register(self, refs: Iterable[DatasetRef]) -> None:
        """Make datasets visible to SQL as ``<department>_<zone>.<dataset>``."""

    def sql(self, sql: str, *, dialect: str = "duckdb") -> pa.RecordBatchReader:
        """Run one query and stream its result as Arrow batches."""

    def frame(self, ref: DatasetRef) -> Any:
        """The dataset as the engine's native frame (for Python jobs)."""

    def to_arrow(self, value: Any) -> pa.RecordBatchReader:
        """Turn what a Python job returned into an Arrow stream."""

    def close(self) -> None: ...


class Engine(Protocol):
    name: ClassVar[str]
    dialect: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(
        self,
        tables: TableStore,
        resolve: Callable[[DatasetRef], str],
        *,
        allowed_directories: list[str] | None = None,
    ) -> None:
        """``resolve`` turns a dataset into its table's URI; sessions open their connections
        with ``tables.connections`` (the project's limits)."""

    def session(self) -> Session: ...

    def close(self) -> None: ...


ENGINES: Registry[type[Engine]] = Registry("civiclake.engines", "engine")
"""Engine registry: ``engine.name`` → the engine class (entry points ``civiclake.engines``)."""
