"""Delta Lake tables through delta-rs.

Writers here never enable deletion vectors or column mapping: DuckDB reads
our tables from the file list in the Delta log (:meth:`TableStore.scan_files`),
which is only correct without those features. :meth:`scan_files` checks and
refuses a table that has them rather than return wrong rows.

Idempotency: a write may carry an *application transaction* (``app_id`` and a
version) committed atomically with the rows. Before writing again, callers ask
:meth:`TableStore.committed_version` — so a crash between the Delta commit and
the metadata store's bookkeeping never loads the same input twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from civiclake.storage import damage as _damage
from civiclake.storage.connections import DEFAULT, Connections
from civiclake.storage.exceptions import (
    CommitConflictError,
    StorageError,
    TableDamagedError,
    UnsupportedTableFeatureError,
)
from civiclake.storage.staged import (
    ROW_GROUP_ROWS,
    Constant,
    StagedFile,
    as_reader,
    delta_compatible,
    same_columns,
    with_constants,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

WriteMode = Literal["append", "overwrite"]
_UNSUPPORTED_FEATURES = {"deletionVectors", "columnMapping"}


@dataclass(frozen=True)
class WriteResult:
    version: int
    rows: int
    bytes_written: int
    files_added: int


@dataclass(frozen=True)
class MergeResult(WriteResult):
    inserted: int
    updated: int


@dataclass(frozen=True)
class TableInfo:
    """A table's current version, schema and row count (from its log, no data read)."""

    version: int
    schema: pa.Schema
    rows: int


@dataclass(frozen=True)
class DataFile:
    """One live file of a table, with what its log entry says about it."""

    uri: str
    path: str
    """Relative to the table root, as the log records it."""
    size: int
    rows: int
    partition: dict[str, str | None]
    min: dict[str, Any]
    max: dict[str, Any]


@dataclass(frozen=True)
class ScanFiles:
    """What DuckDB needs to read a table: its live files and partition columns."""

    uris: list[str]
    partition_columns: list[str]
    schema: pa.Schema


class TableStore:
    """Reads and writes Delta tables at URIs under a storage root."""

    def __init__(
        self,
        storage_options: Mapping[str, str] | None = None,
        *,
        connections: Connections = DEFAULT,
        keep_replaced_hours: int = 1,
    ) -> None:
        """``keep_replaced_hours``: how long :meth:`vacuum` leaves files a commit removed."""
        self._options = dict(storage_options or {})
        self.connections = connections
        self.keep_replaced_hours = keep_replaced_hours
        self.advisor: Callable[[str], tuple[str | None, str | None]] | None = None
        """Optional: a table URI's dataset name and repair command, so a
        :class:`TableDamagedError` names them (set by the CLI from ``civiclake doctor``)."""

    @property
    def storage_options(self) -> dict[str, str] | None:
        return self._options or None

    def exists(self, uri: str) -> bool:
        from deltalake import DeltaTable

        return bool(DeltaTable.is_deltatable(uri, storage_options=self.storage_options))

    def open(self, uri: str) -> DeltaTable:
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, TableNotFoundError

        try:
            dt = DeltaTable(uri, storage_options=self.storage_options)
        except TableNotFoundError as exc:
            raise StorageError(f"no Delta table at {uri}") from exc
        except DeltaError as exc:  # delta-rs's text (a Rust backtrace) never reaches users
            found = _damage.inspect_log(uri)
            if found:
                raise self.damaged(uri, found) from None
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "unknown"
            raise StorageError(
                f"cannot read the Delta log of {uri} ({first}); `civiclake doctor` checks "
                "every table and names the repair"
            ) from None
        latest = _damage.unreadable_commit(uri, int(dt.version()))  # one small file, local
        if latest is not None:
            raise self.damaged(uri, [latest])
        return dt

    def damaged(self, uri: str, found: list[_damage.Damage]) -> TableDamagedError:
        """The error for damage ``found`` in ``uri``, naming its dataset and repair if known."""
        dataset, repair = self.advisor(uri) if self.advisor is not None else (None, None)
        return TableDamagedError(uri, found, dataset=dataset, repair=repair)

    def check_files(self, uri: str, paths: Sequence[str], version: int | None = None) -> bool:
        """Raise :class:`TableDamagedError` when a live data file (``paths``: absolute, as
        readers open them) of a local table is gone — unless the table moved on from
        ``version`` meanwhile (a compaction replaced those files): then False, read again."""
        missing = _damage.missing_files(list(paths))
        if not missing:
            return True
        if version is not None and int(self.open(uri).version()) != version:
            return False
        raise self.damaged(uri, missing)

    def _open_whole(self, uri: str) -> DeltaTable:
        """:meth:`open`, at a version whose data files are all present (local tables)."""
        for _ in range(3):
            dt = self.open(uri)
            if self.check_files(uri, list(dt.file_uris()), int(dt.version())):
                return dt
        self.check_files(uri, list(dt.file_uris()))  # still moving: name what is missing
        return dt

    def committed_version(self, uri: str, app_id: str) -> int | None:
        """The version of application transaction ``app_id`` committed to the table, if any."""
        if not self.exists(uri):
            return None
        version = self.open(uri).transaction_version(app_id)
        return None if version is None else int(version)

    def write(
        self,
        uri: str,
        data: Any,
        *,
        mode: WriteMode,
        partition_by: list[str] | None = None,
        app_id: str | None = None,
        app_version: int = 1,
        metadata: Mapping[str, str] | None = None,
        description: str | None = None,
        constants: Mapping[str, Constant] | None = None,
        where: str | None = None,
    ) -> WriteResult:
        """Commit ``data`` (any Arrow stream or table) to the table at ``uri``.

        ``constants`` are extra trailing columns holding one value on every row
        (lineage), added as the rows are written rather than carried in ``data``.
        ``where`` with ``overwrite`` replaces only the rows matching that predicate (which
        every new row must match), through delta-rs's writer.

        ``append`` adds columns that are new (schema evolution); ``overwrite``
        replaces the rows and the schema. Both are one atomic Delta commit.
        Local, unpartitioned tables take the fast path (:mod:`.staged`); the
        rest, and appends that change the schema, go through delta-rs's writer.
        """
        from deltalake import CommitProperties, Transaction

        props = CommitProperties(
            custom_metadata=dict(metadata or {}) or None,
            app_transactions=[Transaction(app_id, app_version)] if app_id else None,
        )
        if where is not None and mode == "overwrite" and self.exists(uri):
            rows = with_constants(as_reader(data), constants or {})
            return self._write_arrow(
                uri, rows, mode, partition_by, props, description, predicate=where
            )
        if partition_by or "://" in uri:
            rows = with_constants(as_reader(data), constants or {})
            return self._write_arrow(uri, rows, mode, partition_by, props, description)
        from civiclake.storage import staged

        staged_file = staged.stage(
            Path(uri), data, connections=self.connections, constants=constants
        )
        return self.write_staged(uri, staged_file, mode=mode, props=props, description=description)

    def write_staged(
        self,
        uri: str,
        staged_file: StagedFile,
        *,
        mode: WriteMode,
        props: Any,
        description: str | None = None,
    ) -> WriteResult:
        """Commit a file already written into the table's folder with ``props`` (application
        transactions, metadata) in one commit; through delta-rs's writer when its schema must
        be merged. The file is removed when it cannot be committed."""
        try:
            result = self._commit(uri, staged_file, mode, props, description)
            if result is None:  # the rows need delta-rs's schema handling
                result = self._write_arrow(
                    uri, staged_file.reader(), mode, None, props, description
                )
                staged_file.discard()
            return result
        except BaseException:
            staged_file.discard()
            raise

    def write_stream(
        self,
        uri: str,
        data: Any,
        *,
        mode: WriteMode,
        props: Any,
        description: str | None = None,
        constants: Mapping[str, Constant] | None = None,
    ) -> WriteResult:
        """delta-rs's writer with ``props``: remote tables, or when no file can be staged."""
        rows = with_constants(as_reader(data), constants or {})
        return self._write_arrow(uri, rows, mode, None, props, description)

    def _commit(
        self,
        uri: str,
        staged_file: StagedFile,
        mode: WriteMode,
        props: Any,
        description: str | None,
    ) -> WriteResult | None:
        """Commit a staged file as is; None when its schema needs merging or converting."""
        from deltalake import Schema
        from deltalake.exceptions import CommitFailedError, DeltaError
        from deltalake.transaction import create_table_with_add_actions

        if not delta_compatible(staged_file.schema):
            return None
        try:
            if not self.exists(uri):
                create_table_with_add_actions(
                    uri,
                    Schema.from_arrow(staged_file.schema),
                    [staged_file.add_action()],
                    mode="error",
                    description=description,
                    commit_properties=props,
                )
            else:
                dt = self.open(uri)
                current = _arrow_schema(dt)
                if mode == "append" and not same_columns(current, staged_file.schema):
                    return None
                dt.create_write_transaction(
                    [staged_file.add_action()],
                    mode=mode,
                    schema=staged_file.schema if mode == "overwrite" else current,
                    commit_properties=props,
                )
        except CommitFailedError as exc:
            raise CommitConflictError(f"commit to {uri} conflicted: {exc}") from exc
        except DeltaError as exc:
            raise StorageError(f"committing to {uri} failed: {exc}") from exc
        return WriteResult(
            version=self.open(uri).version(),
            rows=staged_file.rows,
            bytes_written=staged_file.size,
            files_added=1,
        )

    def delete(self, uri: str, where: str, *, app_id: str | None = None) -> None:
        """Delete the rows matching ``where`` in one commit (with ``app_id``'s transaction)."""
        from deltalake import CommitProperties, Transaction
        from deltalake.exceptions import CommitFailedError, DeltaError

        props = CommitProperties(
            app_transactions=[Transaction(app_id, 1)] if app_id else None,
        )
        try:
            self.open(uri).delete(where, commit_properties=props)
        except CommitFailedError as exc:
            raise CommitConflictError(f"commit to {uri} conflicted: {exc}") from exc
        except DeltaError as exc:
            raise StorageError(f"deleting from {uri} failed: {exc}") from exc

    def _write_arrow(
        self,
        uri: str,
        data: Any,
        mode: WriteMode,
        partition_by: list[str] | None,
        props: Any,
        description: str | None,
        predicate: str | None = None,
    ) -> WriteResult:
        """delta-rs's own writer: partitioned or remote tables, schema evolution.

        An append merges new columns in; an overwrite with a ``predicate``
        replaces only the matching files (and merges), one without replaces
        everything, schema included.
        """
        from deltalake import WriterProperties, write_deltalake
        from deltalake.exceptions import CommitFailedError, DeltaError

        before = self._file_sizes(uri) if self.exists(uri) else {}
        merge = mode == "append" or predicate is not None
        # delta-rs takes a predicate only with mode="overwrite"
        replace: dict[str, Any] = {"predicate": predicate} if predicate else {}
        try:
            write_deltalake(
                uri,
                data,
                mode=mode,
                **replace,
                partition_by=partition_by,
                schema_mode="merge" if merge else "overwrite",
                storage_options=self.storage_options,
                commit_properties=props,
                description=description,
                writer_properties=WriterProperties(
                    max_row_group_size=ROW_GROUP_ROWS, compression="SNAPPY"
                ),
            )
        except CommitFailedError as exc:
            raise CommitConflictError(f"commit to {uri} conflicted: {exc}") from exc
        except (DeltaError, OSError) as exc:
            raise StorageError(f"writing {uri} failed: {exc}") from exc
        return self._result(uri, before)

    def _result(self, uri: str, before: dict[str, int]) -> WriteResult:
        dt = self.open(uri)
        metrics = dt.history(limit=1)[0].get("operationMetrics") or {}
        added = {p: n for p, n in self._file_sizes(uri, dt).items() if p not in before}
        return WriteResult(
            version=dt.version(),
            rows=int(metrics.get("num_added_rows", 0) or 0),
            bytes_written=sum(added.values()),
            files_added=len(added),
        )

    def _file_sizes(self, uri: str, dt: DeltaTable | None = None) -> dict[str, int]:
        import pyarrow as pa

        actions = pa.table((dt or self.open(uri)).get_add_actions(flatten=True))
        return dict(
            zip(
                actions.column("path").to_pylist(),
                actions.column("size_bytes").to_pylist(),
                strict=True,
            )
        )

    def describe(self, uri: str) -> TableInfo:
        """Version, schema and row count of the current version, from the Delta log."""
        import pyarrow as pa

        dt = self.open(uri)
        actions = pa.table(dt.get_add_actions(flatten=True))
        rows = (
            sum(n or 0 for n in actions.column("num_records").to_pylist())
            if actions.num_rows
            else 0
        )
        return TableInfo(version=dt.version(), schema=_arrow_schema(dt), rows=int(rows))

    def schema(self, uri: str) -> pa.Schema | None:
        """The table's schema, or None when there is no table yet."""
        return _arrow_schema(self.open(uri)) if self.exists(uri) else None

    def merge(self, uri: str, data: pa.Table, key: Sequence[str]) -> MergeResult:
        """Upsert ``data`` by ``key`` (a delta-rs MERGE; new columns are added).

        ``streamed_exec=False`` lets the source's statistics prune target files.
        Keys must be unique and non-NULL in ``data``: MERGE would insert a
        repeated new key twice without complaint.
        """
        from deltalake.exceptions import CommitFailedError, DeltaError

        dt = self.open(uri)
        before = self._file_sizes(uri, dt)
        predicate = " AND ".join(f't."{k}" = s."{k}"' for k in key)
        try:
            metrics = (
                dt.merge(
                    data,
                    predicate=predicate,
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    streamed_exec=False,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        except CommitFailedError as exc:
            raise CommitConflictError(f"merge into {uri} conflicted: {exc}") from exc
        except (DeltaError, OSError) as exc:
            raise StorageError(f"merging into {uri} failed: {exc}") from exc
        after = self.open(uri)
        added = {p: n for p, n in self._file_sizes(uri, after).items() if p not in before}
        inserted = int(metrics.get("num_target_rows_inserted", 0))
        updated = int(metrics.get("num_target_rows_updated", 0))
        return MergeResult(
            version=after.version(),
            rows=inserted + updated,
            bytes_written=sum(added.values()),
            files_added=len(added),
            inserted=inserted,
            updated=updated,
        )

    def scan_files(self, uri: str) -> ScanFiles:
        """Live data files of the current version, for engines that read Parquet directly."""

        dt = self._open_whole(uri)
        features = set(dt.protocol().reader_features or [])
        bad = features & _UNSUPPORTED_FEATURES
        if bad:
            raise UnsupportedTableFeatureError(
                f"{uri} uses Delta features {sorted(bad)}, which civiclake's readers do not "
                "support; rewrite the table with civiclake or disable the feature"
            )
        schema = _arrow_schema(dt)
        return ScanFiles(
            uris=list(dt.file_uris()),
            partition_columns=list(dt.metadata().partition_columns),
            schema=schema,
        )

    def files(self, uri: str) -> tuple[int, pa.Schema, list[DataFile]]:
        """The current version, schema and live files with their statistics."""
        import pyarrow as pa

        dt = self._open_whole(uri)
        features = set(dt.protocol().reader_features or [])
        if features & _UNSUPPORTED_FEATURES:
            self.scan_files(uri)  # raises the explanatory error
        actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
        root = uri.rstrip("/")
        found = []
        for action in actions:
            parts = {k[10:]: v for k, v in action.items() if k.startswith("partition.")}
            found.append(
                DataFile(
                    uri=f"{root}/{action['path']}",
                    path=str(action["path"]),
                    size=int(action.get("size_bytes") or 0),
                    rows=int(action.get("num_records") or 0),
                    partition=parts,
                    min={k[4:]: v for k, v in action.items() if k.startswith("min.")},
                    max={k[4:]: v for k, v in action.items() if k.startswith("max.")},
                )
            )
        return dt.version(), _arrow_schema(dt), found

    def replace_partitions(
        self,
        uri: str,
        data: pa.RecordBatchReader,
        *,
        partition_by: list[str],
        predicate: str | None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Replace every file matching ``predicate`` (on partition columns) by ``data``.

        One Delta commit removes the old files and adds the new ones, so
        readers see either the old state or the new, never a mix. Without a
        predicate everything is replaced and the schema may change (e.g. a
        column widened from BIGINT to DOUBLE).
        """
        from deltalake import CommitProperties

        props = CommitProperties(custom_metadata=dict(metadata or {}) or None)
        return self._write_arrow(
            uri, data, "overwrite", partition_by, props, None, predicate=predicate
        )

    def commit_files(
        self,
        uri: str,
        added: Sequence[str],
        removed: Sequence[DataFile] = (),
        *,
        schema: pa.Schema,
        partition_by: list[str],
        stats_columns: Sequence[str] = (),
        app_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        configuration: Mapping[str, str] | None = None,
    ) -> WriteResult | None:
        """Commit Parquet files already written under the table root, removing ``removed``.

        ``added`` are absolute paths inside ``uri`` (hive-style partition
        folders give their partition values); their row counts and the
        min/max of ``stats_columns`` come from the Parquet footers. One Delta
        commit, application transaction included. ``schema`` (with its field
        metadata) creates a new table; an existing table keeps its own, and
        when the files' columns differ from it this returns None without
        committing — the caller falls back to :meth:`write`, which merges schemas.
        ``configuration`` (Delta table properties) applies when creating.
        """
        from deltalake import CommitProperties, Schema, Transaction
        from deltalake.exceptions import CommitFailedError, DeltaError
        from deltalake.transaction import RemoveAction, create_table_with_add_actions

        from civiclake.storage.staged import add_action_for

        root = uri.rstrip("/")
        actions = [add_action_for(root, path, stats_columns) for path in added]
        props = CommitProperties(
            custom_metadata=dict(metadata or {}) or None,
            app_transactions=[Transaction(app_id, 1)] if app_id else None,
        )
        stamp = int(time.time() * 1000)
        removes = [RemoveAction(f.path, True, stamp, f.size, dict(f.partition)) for f in removed]
        try:
            if not self.exists(uri):
                create_table_with_add_actions(
                    uri,
                    Schema.from_arrow(schema),
                    [a.action for a, _ in actions],
                    mode="error",
                    partition_by=partition_by,
                    configuration=dict(configuration or {}) or None,
                    commit_properties=props,
                )
            else:
                dt = self.open(uri)
                current = [(f.name, str(f.type)) for f in dt.schema().fields]
                for _, file_schema in actions:
                    written = [(f.name, str(f.type)) for f in Schema.from_arrow(file_schema).fields]
                    wanted = [c for c in current if c[0] not in partition_by]
                    if written != wanted:
                        return None
                dt.create_write_transaction(
                    [*(a.action for a, _ in actions), *removes],
                    mode="append",
                    schema=dt.schema(),
                    partition_by=partition_by,
                    commit_properties=props,
                )
        except CommitFailedError as exc:
            raise CommitConflictError(f"commit to {uri} conflicted: {exc}") from exc
        except DeltaError as exc:
            raise StorageError(f"committing to {uri} failed: {exc}") from exc
        return WriteResult(
            version=self.open(uri).version(),
            rows=sum(a.rows for a, _ in actions),
            bytes_written=sum(a.size for a, _ in actions),
            files_added=len(actions),
        )

    def last_commit(self, uri: str) -> dict[str, Any]:
        """The newest commit's info: ``operation``, ``version`` and the custom metadata the
        writer attached (e.g. ``civiclake.operation``)."""
        history = self.open(uri).history(limit=1)
        return dict(history[0]) if history else {}

    def vacuum(self, uri: str) -> int:
        """Delete files no longer in the current version that were removed longer than
        ``keep_replaced_hours`` ago (readers of an older version may still be reading the
        younger ones); returns how many. Deleting nothing makes no commit."""
        removed = self.open(uri).vacuum(
            retention_hours=self.keep_replaced_hours,
            enforce_retention_duration=False,
            dry_run=False,
        )
        return len(removed)

    def read(self, uri: str) -> pa.Table:
        """The whole current version as an Arrow table (small tables and tests)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = self.scan_files(uri)
        if not files.uris:
            return files.schema.empty_table()
        tables = [pq.read_table(u) for u in files.uris]
        return pa.concat_tables(tables, promote_options="permissive")


def _arrow_schema(dt: DeltaTable) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(dt.schema().to_arrow())
