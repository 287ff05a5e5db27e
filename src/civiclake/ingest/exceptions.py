"""Ingestion errors."""

from civiclake.exceptions import CivicLakeError, Transient


class IngestError(CivicLakeError):
    """A source could not load its input; the message names the file, row and column."""


class BadFileError(IngestError):
    """A whole file cannot be loaded (wrong encoding, not a spreadsheet, unreadable)."""


class SourceUnavailableError(IngestError, Transient):
    """The source system or folder could not be reached; worth retrying."""
