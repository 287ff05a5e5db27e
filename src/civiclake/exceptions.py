"""The civiclake exception tree.

Every error civiclake raises on purpose derives from :class:`CivicLakeError`, in the
branch of the part that raised it. Whether an error is worth retrying is part of its
*type*, never of its message: a domain error that a retry can fix also derives from the
:class:`Transient` marker, and the runner retries those and nothing else (every other error
is terminal for the step)::

    CivicLakeError
    ├── ConfigError              civiclake.yaml or a source file is wrong
    │   └── ProjectNotFoundError no civiclake.yaml here or above
    ├── TransientError  (T)      worth retrying, when no domain error fits (Python jobs)
    ├── MissingDependencyError   an optional extra is not installed
    ├── DiskFullError            a disk civiclake writes to is full (tables, landing, metadata)
    ├── StorageError             reading or writing a Delta table failed (storage.exceptions)
    │   ├── CommitConflictError (T)  another writer committed first
    │   └── TableDamagedError    a table's log or files are damaged, or behind the catalog
    ├── IngestError              a source could not load its input (ingest.exceptions)
    │   ├── SourceUnavailableError (T)  the source system or folder did not answer
    │   └── OffsetsMovedError (T)       a rebalance moved a stream's offsets
    ├── PlanError                the steps do not form a plan: a cycle, two writers of one
    │                            dataset, a selection that matches nothing (runner.graph)
    ├── JobError                 a job is invalid or failed (jobs.exceptions)
    │   └── JobDefinitionError   found before anything runs (a PlanError too): a bad header…
    ├── EngineError              the SQL engine refused or failed a query (engines)
    ├── WarehouseError           publishing failed (publish.exceptions)
    │   └── WarehouseUnreachable (T)  the warehouse did not answer
    └── MetadataError            the metadata store is unreachable or out of date
        └── MetadataBusyError (T)     another process holds its write lock

(T) = also a :class:`Transient`. Driver errors (SQLAlchemy, psycopg, delta-rs, DuckDB)
are translated into these where civiclake calls the driver, so no caller sees driver text.

Each message says what was tried and what to do next.
"""

from __future__ import annotations

import errno
import re


class CivicLakeError(Exception):
    """Root of every error civiclake raises on purpose."""


class ConfigError(CivicLakeError):
    """A configuration file is invalid; the message names the file, key and fix."""


class ProjectNotFoundError(ConfigError):
    """No ``civiclake.yaml`` in the given folder or any parent."""


class Transient(Exception):
    """Marker: a failure worth retrying. The runner retries these with backoff.

    Mixed into a domain error, e.g. ``class CommitConflictError(StorageError, Transient)``, so
    the error stays in its part's branch (``except StorageError`` still catches it).
    """


class TransientError(CivicLakeError, Transient):
    """A temporary failure no domain error describes.

    Python jobs may raise it themselves when they know a failure is temporary.
    """


class PlanError(CivicLakeError):
    """The steps cannot be planned; found before anything runs, the message names them."""


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


class MetadataBusyError(MetadataError, Transient):
    """The metadata store stayed locked by another process for longer than its retries."""


class DiskFullError(CivicLakeError):
    """A disk civiclake writes to is full; nothing more was written. Terminal: a retry
    cannot help until someone frees space."""


_FULL_TEXT = ("no space left on device", "database or disk is full", '"errno":"28"')
_WRITING = re.compile(r'Could not write file \\?"(?P<path>[^"\\]+)')


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk, whichever library raised it."""
    seen: BaseException | None = exc
    for _ in range(10):  # the chain of causes, bounded
        if seen is None:
            return False
        if isinstance(seen, DiskFullError):
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(seen).lower() for text in _FULL_TEXT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full_error(exc: BaseException, what: str) -> DiskFullError:
    """The one message for a full disk met while doing ``what`` (e.g. "loading rents.csv")."""
    if isinstance(exc, DiskFullError):
        return exc
    path = getattr(exc, "filename", None)
    if not path and (m := _WRITING.search(str(exc))):
        path = m.group("path")
    where = f" (writing {path})" if path else ""
    return DiskFullError(
        f"the disk is full{where} while {what}: nothing more was written. Free space on that "
        "disk and run the command again; what was committed before is kept and each file or "
        "batch is still loaded exactly once"
    )
