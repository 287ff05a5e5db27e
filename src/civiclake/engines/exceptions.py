"""Engine errors."""

from civiclake.exceptions import CivicLakeError


class EngineError(CivicLakeError):
    """The SQL engine refused or failed a statement; the message carries the engine's reason."""
