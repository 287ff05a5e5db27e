"""The catalog: the one door every dataset is written through.

A dataset is a Delta table at the URI its :class:`~civiclake.storage.DatasetRef` maps to,
plus an entry in the metadata store (producer, key, owner, PII columns, schema, rows) that
the catalog, lineage, access policy and warehouse read. Writing through :class:`Catalog`
keeps the two together::

    catalog.write(ref, table, mode="overwrite", producer="job:housing.tenures", key=["id"])
    catalog.write_once(ref, rows, app_id="file:ab12…", producer="files:rents")  # exactly once
    catalog.merge(ref, table, key=["id"], producer="job:…")

:meth:`Catalog.write_once` is the exactly-once write: the table's Delta application
transaction ``app_id`` is checked first and recorded in the same commit as the data, so a
run that stopped after committing and before recording its progress does not write twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from civiclake.naming import HISTORY_SUFFIX
from civiclake.storage import DatasetRef, Layout, MergeResult, TableStore, WriteResult
from civiclake.storage.damage import Damage, Kind, commit_file

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.metadata import MetadataStore
    from civiclake.storage.delta import WriteMode
    from civiclake.storage.staged import Constant


@dataclass(frozen=True)
class Entry:
    """What the catalog records of a dataset besides its table."""

    producer: str
    key: Sequence[str] = ()
    description: str = ""
    owner: str = ""
    pii: Sequence[str] = ()


class Catalog:
    """Datasets of one project: their tables and their catalog entries."""

    def __init__(
        self, layout: Layout, tables: TableStore, store: MetadataStore, departments: Sequence[str]
    ) -> None:
        self.layout = layout
        self.tables = tables
        self.store = store
        self.departments = list(departments)
        self.fence: Callable[[DatasetRef], None] | None = None
        """Set by a run holding its datasets' leases: raises when the run lost one, so a
        stalled run does not commit on top of the run that took over (see
        :mod:`civiclake.runner.locks`)."""
        self._replacing: set[DatasetRef] = set()

    @contextmanager
    def replacing(self, *refs: DatasetRef) -> Iterator[None]:
        """While a repair writes ``refs`` from scratch (their damaged tables moved aside),
        :meth:`verify` lets them be written although the catalog recorded a newer version."""
        self._replacing.update(refs)
        try:
            yield
        finally:
            self._replacing.difference_update(refs)

    def check(self, ref: DatasetRef, uri: str | None = None, *, replaces: bool = False) -> None:
        """Before a commit to ``ref``: the run writing may still write it, and its table is
        whole (see :meth:`verify`).

        ``uri``: the table actually written when it is not ``ref``'s own (a history rebuild
        builds beside it; the damaged table it replaces is not checked). ``replaces``: the
        write replaces the whole table, so what the table lost does not matter to it.
        """
        if self.fence is not None:
            self.fence(ref)
        if uri is None or uri == self.uri(ref):
            self.finish_swap(ref)
            if not replaces:
                self.verify(ref)

    def finish_swap(self, ref: DatasetRef) -> None:
        """Finish a table swap a killed ``history rebuild`` left half done (see
        :mod:`civiclake.storage.swap`), recording the rebuilt table's version, so a write
        never starts a fresh table beside the old and the new ones."""
        if not self.layout.is_local:
            return
        from civiclake.storage import swap

        uri = self.table_of(ref)
        swap.finish(uri, on_swapped=lambda: self.moved(uri, int(self.tables.open(uri).version())))

    def verify(self, ref: DatasetRef) -> None:
        """Raise :class:`~civiclake.storage.exceptions.TableDamagedError` when ``ref``'s table
        is missing, behind the version the catalog recorded, or reads a file that is gone.

        A write on top of a table whose newest commits were lost would make the loss
        permanent (the next commit takes the lost version's number), so it is refused.
        """
        row = self.store.dataset(ref.qualified) if ref not in self._replacing else None
        if row is None or row.get("version") is None:
            return  # never written through the catalog: nothing to compare with
        uri = self.table_of(ref)
        recorded = int(row["version"])
        if not self.tables.exists(uri):
            self._damaged(ref, uri, "missing-table", uri, "the table's folder or log is gone")
        dt = self.tables.open(uri)  # a damaged log raises here, naming the file
        version = int(dt.version())
        if version < recorded:
            self._damaged(
                ref,
                uri,
                "behind-catalog",
                commit_file(uri, version + 1),
                f"the catalog recorded version {recorded} but the log ends at version "
                f"{version}: commit files were lost",
            )
        self.tables.check_files(uri, list(dt.file_uris()), version)

    def _damaged(self, ref: DatasetRef, uri: str, kind: Kind, file: str, detail: str) -> None:
        error = self.tables.damaged(uri, [Damage(kind, file, detail)])
        error.dataset = error.dataset or ref.qualified
        raise error

    # -- where ------------------------------------------------------------------
    def uri(self, ref: DatasetRef) -> str:
        """The Delta table URI of ``ref``."""
        return self.layout.table_uri(ref)

    def table_of(self, ref: DatasetRef) -> str:
        """The URI of the table holding ``ref``: ``x``'s for ``x__history`` (one history
        table, two faces), else ``ref``'s own."""
        if ref.name.endswith(HISTORY_SUFFIX):
            return self.uri(ref.sibling(ref.name.removesuffix(HISTORY_SUFFIX)))
        return self.uri(ref)

    def exists(self, ref: DatasetRef) -> bool:
        return self.tables.exists(self.uri(ref))

    def committed(self, ref: DatasetRef, app_id: str) -> bool:
        """``app_id``'s write is already in ``ref``'s table (see :meth:`write_once`)."""
        return self.tables.committed_version(self.uri(ref), app_id) is not None

    def datasets(self) -> list[DatasetRef]:
        """Datasets the catalog knows to exist (written at least once)."""
        return [
            DatasetRef(row["department"], row["zone"], row["name"])
            for row in self.store.datasets()
            if row["department"] in self.departments
        ]

    # -- writing ----------------------------------------------------------------
    def write(
        self,
        ref: DatasetRef,
        data: Any,
        *,
        mode: WriteMode,
        producer: str,
        app_id: str | None = None,
        key: Sequence[str] = (),
        description: str = "",
        owner: str = "",
        pii: Sequence[str] = (),
        partition_by: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        constants: Mapping[str, Constant] | None = None,
        register: bool = True,
        where: str | None = None,
    ) -> WriteResult:
        """Write ``ref``'s table and record it in the catalog.

        ``constants`` are trailing columns with one value on every row (lineage).
        ``register=False`` leaves the catalog entry to the caller, for writers that commit
        many small batches and refresh the entry once at the end (streams).
        ``where`` (a SQL predicate, with ``mode="overwrite"``): replace only the rows it
        matches, in the same commit; every row written must match it too.
        """
        self.check(ref, replaces=mode == "overwrite" and where is None)
        result = self.tables.write(
            self.uri(ref),
            data,
            mode=mode,
            partition_by=partition_by,
            app_id=app_id,
            metadata=metadata,
            description=description or None,
            constants=constants,
            where=where,
        )
        if register:
            self.register(
                ref, producer=producer, key=key, description=description, owner=owner, pii=pii
            )
        return result

    def write_once(
        self,
        ref: DatasetRef,
        data: Any,
        *,
        app_id: str,
        producer: str,
        mode: WriteMode = "append",
        **options: Any,
    ) -> WriteResult | None:
        """:meth:`write`, unless ``app_id`` already committed to ``ref`` (then None).

        Takes :meth:`write`'s keyword options. The check and the commit carrying ``app_id``
        make a re-run after a crash a no-op for every batch that reached the table.
        """
        if self.committed(ref, app_id):
            return None
        return self.write(ref, data, mode=mode, producer=producer, app_id=app_id, **options)

    def delete_once(self, ref: DatasetRef, where: str, *, app_id: str) -> bool:
        """Delete the rows of ``ref`` matching ``where`` in one commit carrying ``app_id``,
        unless that committed already (or there is no table); True when it committed."""
        if not self.exists(ref) or self.committed(ref, app_id):
            return False
        self.check(ref)
        self.tables.delete(self.uri(ref), where, app_id=app_id)
        return True

    def merge(
        self,
        ref: DatasetRef,
        data: pa.Table,
        *,
        key: Sequence[str],
        producer: str,
        description: str = "",
        owner: str = "",
        pii: Sequence[str] = (),
    ) -> MergeResult:
        """Upsert ``data`` into ``ref`` by ``key`` and refresh its catalog entry."""
        self.check(ref)
        result = self.tables.merge(self.uri(ref), data, key)
        self.register(
            ref, producer=producer, key=key, description=description, owner=owner, pii=pii
        )
        return result

    # -- entries ----------------------------------------------------------------
    def register(
        self,
        ref: DatasetRef,
        *,
        producer: str,
        key: Sequence[str] = (),
        description: str = "",
        owner: str = "",
        pii: Sequence[str] = (),
    ) -> None:
        """Record (or refresh) ``ref``'s entry from its Delta table's schema and size."""
        info = self.tables.describe(self.uri(ref))
        self.record(
            ref,
            Entry(producer, key, description, owner, pii),
            columns=[{"name": f.name, "type": str(f.type)} for f in info.schema],
            rows=info.rows,
            version=info.version,
        )

    def record(
        self,
        ref: DatasetRef,
        entry: Entry,
        *,
        columns: list[dict[str, str]],
        rows: int,
        version: int,
        keep_description: bool = False,
        uri: str | None = None,
    ) -> None:
        """Record an entry whose schema the caller knows (a history table's two faces).

        ``keep_description``: an empty description leaves the recorded one as it is.
        ``uri``: the table holding the dataset when it is not ``ref``'s own (``x__history``).
        """
        values: dict[str, Any] = {
            "department": ref.department,
            "zone": ref.zone,
            "name": ref.name,
            "uri": uri or self.uri(ref),
            "producer": entry.producer,
            "key": list(entry.key),
            "owner": entry.owner,
            "pii": list(entry.pii),
            "columns": columns,
            "row_count": rows,
            "version": version,
        }
        if entry.description or not keep_description:
            values["description"] = entry.description
        self.store.upsert_dataset(ref.qualified, **values)

    def moved(self, uri: str, version: int) -> None:
        """The table at ``uri`` is at ``version`` with the same data (a compaction): its
        entries say so, and readers that bound their views to older files rebind."""
        self.store.set_table_version(uri, version)

    def forget(self, qualified_names: Sequence[str]) -> None:
        """Remove datasets' entries, lineage, clearances and publish state (their tables
        are removed by the caller, first: a failed removal leaves them findable)."""
        self.store.forget_datasets(qualified_names)


__all__ = ["Catalog", "Entry"]
