"""Storage errors."""

from civiclake.exceptions import CivicLakeError, Transient


class StorageError(CivicLakeError):
    """A Delta table or landing file could not be read or written."""


class CommitConflictError(StorageError, Transient):
    """Another writer committed first; retrying usually succeeds."""


class UnsupportedTableFeatureError(StorageError):
    """A table uses a Delta feature civiclake's readers do not support."""
