"""The civiclake exception tree.

Every error civiclake raises on purpose derives from :class:`CivicLakeError`.
Whether an error is worth retrying is part of its *type*, never of its
message: the runner retries :class:`TransientError` and nothing else.

::

    CivicLakeError
    ├── ConfigError              civiclake.yaml or a source file is wrong
    │   └── ProjectNotFoundError no civiclake.yaml here or above
    ├── TransientError           worth retrying (I/O hiccup, commit conflict, timeout)
    ├── MissingDependencyError   an optional extra is not installed
    ├── StorageError             reading or writing a Delta table failed (storage.exceptions)
    ├── IngestError              a source could not load its input (ingest.exceptions)
    ├── JobError                 a job is invalid or failed (jobs.exceptions)
    │   └── JobDefinitionError   found before anything runs: cycles, unknown tables…
    ├── EngineError              the SQL engine refused or failed a query (engines)
    └── MetadataError            the metadata store is unreachable or out of date

Each message says what was tried and what to do next.
"""

from __future__ import annotations


class CivicLakeError(Exception):
    """Root of every error civiclake raises on purpose."""


class ConfigError(CivicLakeError):
    """A configuration file is invalid; the message names the file, key and fix."""


class ProjectNotFoundError(ConfigError):
    """No ``civiclake.yaml`` in the given folder or any parent."""


class TransientError(CivicLakeError):
    """A failure worth retrying: the runner retries these with backoff.

    Python jobs may raise it themselves when they know a failure is temporary.
    """


class MissingDependencyError(CivicLakeError):
    """An optional dependency is missing; the message names the pip command."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; it comes with the '{extra}' extra: "
            f"pip install 'civiclake[{extra}]'"
        )
        self.package = package
        self.extra = extra


class MetadataError(CivicLakeError):
    """The metadata store could not be reached or migrated."""
