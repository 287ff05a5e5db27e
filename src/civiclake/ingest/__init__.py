"""Ingestion: source connectors that bring data into landing and raw."""

from civiclake.ingest.base import SOURCE_TYPES, STEPS, Source, load_sources
from civiclake.ingest.exceptions import BadFileError, IngestError

__all__ = ["SOURCE_TYPES", "STEPS", "BadFileError", "IngestError", "Source", "load_sources"]
