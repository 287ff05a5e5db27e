"""SQL/compute engines: DuckDB on one machine; Spark implements the same interface."""

from civiclake.engines.base import ENGINES, Capabilities, Engine, Session
from civiclake.engines.exceptions import EngineError

__all__ = ["ENGINES", "Capabilities", "Engine", "EngineError", "Session"]
