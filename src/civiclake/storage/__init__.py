"""Storage: Delta tables under ``<root>/<zone>/<department>/<dataset>/`` and landing files."""

from civiclake.storage.delta import MergeResult, ScanFiles, TableInfo, TableStore, WriteResult
from civiclake.storage.layout import DatasetRef, Layout

__all__ = [
    "DatasetRef",
    "Layout",
    "MergeResult",
    "ScanFiles",
    "TableInfo",
    "TableStore",
    "WriteResult",
]
