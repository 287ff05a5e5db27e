"""Rebuilding a history table from its recorded increments (``civiclake history rebuild``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.snapshots.apply import _apply, register
from civiclake.snapshots.spec import HistoryError, HistorySpec

if TYPE_CHECKING:
    from collections.abc import Callable

    FileRelation = Callable[[Sequence["DataFile"]], str]
    """A tier's files as a SQL relation (``read_parquet`` unless a session says otherwise)."""

    from civiclake.catalog import Catalog
    from civiclake.storage import DatasetRef
    from civiclake.storage.delta import DataFile


def rebuild(
    catalog: Catalog,
    ref: DatasetRef,
    spec: HistorySpec,
    increments: Iterable[tuple[str, Any]],
    *,
    producer: str,
    import_id: str,
) -> int:
    """Rebuild ``ref``'s history from ``(app_id, increment)`` pairs, in import order.

    The new table is built beside the old one and swapped in at the end, so
    the old tables stay readable until the new ones are complete.
    """
    import shutil

    uri = catalog.uri(ref)
    if "://" in uri:
        raise HistoryError(f"rebuilding {ref.qualified} on remote storage is not supported yet")
    building = uri.rstrip("/") + ".rebuild"
    shutil.rmtree(building, ignore_errors=True)
    count = 0
    for app_id, data in increments:
        _apply(
            catalog,
            building,
            data,
            spec,
            app_id=app_id,
            import_id=import_id,
            ref=ref,
        )
        count += 1
    old = uri.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if Path(uri).exists():
        Path(uri).rename(old)
    if Path(building).exists():
        Path(building).rename(uri)
    shutil.rmtree(old, ignore_errors=True)
    register(catalog, ref, producer=producer)
    return count
