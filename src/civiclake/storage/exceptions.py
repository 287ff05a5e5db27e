"""Storage errors."""

from civiclake.exceptions import CivicLakeError, TransientError


class StorageError(CivicLakeError):
    """A Delta table or landing file could not be read or written."""


class CommitConflictError(TransientError):
    """Another writer committed first; retrying usually succeeds."""


class UnsupportedTableFeatureError(StorageError):
    """A table uses a Delta feature civiclake's readers do not support."""
