"""Rebuilding a history table from its recorded increments (``civiclake history rebuild``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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

    The new table is built beside the old one and swapped in at the end
    (:mod:`civiclake.storage.swap`): until the swap the old table is read and written as
    before; a kill during the swap leaves the new table readable, and the next write to
    ``ref`` finishes the swap before it commits.
    """
    from civiclake.storage import swap

    uri = catalog.uri(ref)
    if "://" in uri:
        raise HistoryError(f"rebuilding {ref.qualified} on remote storage is not supported yet")
    count = 0
    with swap.rebuilding(uri) as building:
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
        if count == 0:
            raise HistoryError(
                f"nothing to rebuild {ref.qualified} from: the source replayed no batches; "
                "the table is left as it was"
            )
        swap.swap_in(uri, on_swapped=lambda: register(catalog, ref, producer=producer))
    return count
