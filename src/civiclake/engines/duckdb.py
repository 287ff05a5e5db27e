"""The embedded engine: DuckDB reading Delta tables through their logs.

Each dataset becomes a view ``<department>_<zone>.<dataset>`` over
``read_parquet`` of the live files listed in the table's Delta log (not
``to_pyarrow_dataset()``, whose ``string_view`` columns break DuckDB string
filters after a MERGE). Files written before a column was added are read
with ``union_by_name`` so older rows show NULL for it.

Sessions are locked down once their views exist: file access is limited to
the storage root, and DuckDB's configuration cannot be changed by SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from civiclake.engines.base import Capabilities
from civiclake.engines.exceptions import EngineError
from civiclake.naming import literal as _literal
from civiclake.naming import quote as _quote
from civiclake.storage import DatasetRef, TableStore

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from civiclake.storage.delta import DataFile


class DuckDBEngine:
    """Creates DuckDB sessions that see the project's datasets."""

    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"
    capabilities: ClassVar[Capabilities] = Capabilities(embedded=True, native_frames="duckdb")

    def __init__(
        self,
        tables: TableStore,
        resolve: Callable[[DatasetRef], str],
        *,
        allowed_directories: list[str] | None = None,
    ) -> None:
        self.tables = tables
        self.resolve = resolve
        self.allowed_directories = allowed_directories or []

    def session(self) -> DuckDBSession:
        return DuckDBSession(self)

    def close(self) -> None:
        """Sessions own their connections; nothing is shared."""


class DuckDBSession:
    """One in-memory DuckDB connection with views over Delta tables."""

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.con: duckdb.DuckDBPyConnection = engine.tables.connections.open()
        self._registered: set[DatasetRef] = set()
        self._locked = False
        self._restricted = False
        self._objects: dict[str, Any] = {}
        """Arrow objects registered on the connection, which cursors must register again."""
        self.masks: dict[str, dict[str, str]] = {}
        """``{schema.x: {column: SQL}}``: columns views show masked (set before ``register``;
        the access policy decides them). Applies to ``x``, ``x__history``, ``x_as_of``,
        ``x_as_known`` and ``x_diff``.
        A masked dataset's files are read through Arrow under a random name, never by a
        path the SQL could name (see :meth:`restrict`)."""

    def restrict(self) -> None:
        """Make this a person's session: at lock-down it can open only its datasets' files.

        Locking then narrows DuckDB's ``allowed_directories`` to the table folders of the
        datasets registered *unmasked* (not the storage root), turns off replacement
        scans, extension loading and spilling for every cursor of the database, and
        caps expression depth. Masked datasets are scanned by Arrow from sources whose
        names are random, so even SQL that slipped past the guard could not read their
        files or their unmasked columns.
        """
        self._restricted = True

    # -- datasets -----------------------------------------------------------
    def register(self, refs: Iterable[DatasetRef]) -> None:
        for ref in sorted(set(refs)):
            if ref in self._registered:
                continue
            self._create_view(ref)
            self._registered.add(ref)

    def _create_view(self, ref: DatasetRef) -> None:
        uri = self.engine.resolve(ref)
        schema = _quote(ref.schema)
        view = f"{schema}.{_quote(ref.name)}"
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        if self._create_history_views(ref):
            return
        if not self.engine.tables.exists(uri):
            raise EngineError(
                f"{ref.qualified} has no data yet: nothing has written it (for a files source, "
                "drop a file in its landing folder; for a job, run it first)"
            )
        files = self.engine.tables.scan_files(uri)
        if not files.uris:
            empty = files.schema.empty_table()
            name = f"__empty_{ref.schema}_{ref.name}"
            self._register_object(name, empty)
            select = self._masked(ref, f"SELECT * FROM {_quote(name)}", empty.column_names)
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")
            return
        columns = ", ".join(_quote(n) for n in files.schema.names)
        if self._hidden(ref):
            source = self._arrow_source(files.uris, files.schema, files.partition_columns, uri)
            select = f"SELECT {columns} FROM {source}"
        else:
            file_list = "[" + ", ".join(_literal(u) for u in files.uris) + "]"
            options = "union_by_name = true"
            if files.partition_columns:
                types = ", ".join(
                    f"{_literal(c)}: {_literal(_duck_type(files.schema.field(c).type))}"
                    for c in files.partition_columns
                )
                options += f", hive_partitioning = true, hive_types = {{{types}}}"
            select = f"SELECT {columns} FROM read_parquet({file_list}, {options})"
        self.con.execute(
            f"CREATE OR REPLACE VIEW {view} AS {self._masked(ref, select, files.schema.names)}"
        )

    def _create_history_views(self, ref: DatasetRef) -> bool:
        """Views of a keyed dataset's history table: ``x``, ``x__history``, ``x_as_of(d)``,
        ``x_as_known(t)`` and ``x_diff(t1, t2, known)`` (its two states masked alike)."""
        from civiclake.naming import AS_KNOWN_SUFFIX, AS_OF_SUFFIX, DIFF_SUFFIX, HISTORY_SUFFIX
        from civiclake.snapshots import (
            as_known_relation,
            as_of_relation,
            diff_relation,
            history_relation,
            latest_relation,
            open_history,
            parquet_relation,
        )

        name = ref.name.removesuffix(HISTORY_SUFFIX)
        base = ref.sibling(name)
        table = open_history(self.engine.tables, self.engine.resolve(base))
        if table is None:
            return False
        schema = _quote(ref.schema)
        prefix = f"{ref.schema}_{name}"
        relation = parquet_relation
        if self._hidden(base):

            def relation(files: Sequence[DataFile]) -> str:
                return self._arrow_source([f.uri for f in files], table.schema, [], None)

        con: Any = _Recording(self)
        latest = self._masked(
            base, latest_relation(con, table, prefix, relation=relation), table.columns
        )
        history = self._masked(
            base, history_relation(con, table, prefix, relation=relation), table.columns
        )
        as_of = self._masked(
            base, as_of_relation(con, table, prefix, relation=relation), table.columns
        )
        as_known = self._masked(
            base, as_known_relation(con, table, prefix, relation=relation), table.columns
        )
        diff = diff_relation(
            con,
            table,
            prefix,
            relation=relation,
            masked=lambda select: self._masked(base, select, table.columns),
        )
        self.con.execute(f"CREATE OR REPLACE VIEW {schema}.{_quote(name)} AS {latest}")
        self.con.execute(
            f"CREATE OR REPLACE VIEW {schema}.{_quote(name + HISTORY_SUFFIX)} AS {history}"
        )
        self.con.execute(
            f"CREATE OR REPLACE MACRO {schema}.{_quote(name + AS_OF_SUFFIX)}(d) AS TABLE {as_of}"
        )
        self.con.execute(
            f"CREATE OR REPLACE MACRO {schema}.{_quote(name + AS_KNOWN_SUFFIX)}(t) "
            f"AS TABLE {as_known}"
        )
        self.con.execute(
            f"CREATE OR REPLACE MACRO {schema}.{_quote(name + DIFF_SUFFIX)}"
            f"(t1, t2, known := false) AS TABLE {diff}"
        )
        self._registered.update({base, base.sibling(name + HISTORY_SUFFIX)})
        return True

    def _masked(self, ref: DatasetRef, select: str, columns: Iterable[str]) -> str:
        """``select`` with the masked columns of ``ref`` replaced by their masking SQL."""
        masks = self.masks.get(ref.qualified, {})
        present = set(columns)
        replace = [f"{sql} AS {_quote(c)}" for c, sql in masks.items() if c in present]
        if not replace:
            return select
        return f"SELECT * REPLACE ({', '.join(replace)}) FROM ({select})"

    def _hidden(self, ref: DatasetRef) -> bool:
        """Whether ``ref``'s files are kept from the SQL (a masked dataset, on local storage)."""
        return ref.qualified in self.masks and bool(self.engine.allowed_directories)

    def _arrow_source(
        self,
        uris: Sequence[str],
        schema: pa.Schema,
        partition_columns: Sequence[str],
        root: str | None,
    ) -> str:
        """``uris`` scanned by Arrow, registered under a random name; returns the quoted name."""
        import secrets

        import pyarrow as pa
        import pyarrow.dataset as pads

        paths = [u.removeprefix("file://") for u in uris]
        partitioning = None
        if partition_columns:
            partitioning = pads.partitioning(
                pa.schema([schema.field(c) for c in partition_columns]), flavor="hive"
            )
        dataset = pads.dataset(
            paths,
            schema=schema,
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=root.removeprefix("file://") if root and partitioning else None,
        )
        name = f"__src_{secrets.token_hex(16)}"
        self._register_object(name, dataset)
        return _quote(name)

    def _register_object(self, name: str, value: Any) -> None:
        self.con.register(name, value)
        self._objects[name] = value

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on this session's database, seeing everything its views need.

        Settings were set GLOBAL at lock-down, so the cursor is locked alike; Arrow
        objects are per connection in DuckDB, so they are registered on it again.
        """
        self.lock_down()
        cursor = self.con.cursor()
        for name, value in self._objects.items():
            cursor.register(name, value)
        return cursor

    def lock_down(self) -> None:
        """No file access outside the allowed folders; no configuration changes.

        An engine session may open the storage root; a restricted (person's) session
        only the folders of its unmasked datasets, with every cursor locked alike.
        """
        if self._locked:
            return
        if self._restricted:
            hidden = {base for base in self._registered if self._hidden(base)}
            folders = sorted(
                {
                    self.engine.resolve(ref.sibling(ref.name.removesuffix("__history")))
                    for ref in self._registered
                    if ref.sibling(ref.name.removesuffix("__history")) not in hidden
                }
            )
            allowed = folders if self.engine.allowed_directories else []
            for setting in _RESTRICTED_SETTINGS:
                self.con.execute(f"SET GLOBAL {setting}")
        else:
            allowed = self.engine.allowed_directories
        dirs = ", ".join(_literal(d.rstrip("/") + "/") for d in allowed)
        self.con.execute(f"SET GLOBAL allowed_directories = [{dirs}]")
        self.con.execute("SET GLOBAL enable_external_access = false")
        self.con.execute("SET GLOBAL lock_configuration = true")
        self._locked = True

    # -- queries --------------------------------------------------------------
    def sql(self, sql: str, *, dialect: str = "duckdb") -> pa.RecordBatchReader:
        import duckdb

        if dialect != "duckdb":
            import sqlglot

            sql = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
        self.lock_down()
        try:
            reader = self.con.sql(sql).to_arrow_reader(batch_size=122_880)
        except duckdb.Error as exc:
            raise EngineError(str(exc).strip()) from None
        return _keeping_alive(reader, self)

    def frame(self, ref: DatasetRef) -> duckdb.DuckDBPyRelation:
        self.register([ref])
        return self.con.sql(f"SELECT * FROM {_quote(ref.schema)}.{_quote(ref.name)}")

    def to_arrow(self, value: Any) -> pa.RecordBatchReader:
        """Accept an Arrow table/stream, a DuckDB relation, or a polars/pandas frame."""
        import pyarrow as pa

        if isinstance(value, pa.RecordBatchReader):
            return value
        if isinstance(value, pa.Table):
            return value.to_reader()
        module = type(value).__module__.split(".")[0]
        if module in ("duckdb", "_duckdb"):
            return value.to_arrow_reader(batch_size=122_880)
        if module == "polars":
            if hasattr(value, "collect"):
                value = value.collect()
            return value.to_arrow().to_reader()
        if module == "pandas":
            return pa.Table.from_pandas(value, preserve_index=False).to_reader()
        if hasattr(value, "__arrow_c_stream__"):
            return pa.RecordBatchReader.from_stream(value)
        raise EngineError(
            f"a Python job returned {type(value).__name__}; return a pyarrow Table, a DuckDB "
            "relation or a polars/pandas DataFrame"
        )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DuckDBSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Recording:
    """The session's connection for SQL builders: what they register, cursors get too."""

    def __init__(self, session: DuckDBSession) -> None:
        self._session = session

    def register(self, name: str, value: Any) -> None:
        self._session._register_object(name, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session.con, name)


_RESTRICTED_SETTINGS = (
    "python_enable_replacements = false",
    "autoinstall_known_extensions = false",
    "autoload_known_extensions = false",
    "temp_directory = ''",
    "max_expression_depth = 250",
)
"""Set GLOBAL on a person's session, so every cursor of its database has them."""


def _keeping_alive(reader: pa.RecordBatchReader, owner: object) -> pa.RecordBatchReader:
    """``reader``, holding ``owner`` (the session) until the last batch is read.

    A DuckDB connection dropped while its result streams frees the Python functions
    registered on it (the masking functions); a view calling one then crashes the process.
    """
    import pyarrow as pa

    def batches() -> Iterator[pa.RecordBatch]:
        keep = owner  # noqa: F841 - held by this generator's frame
        yield from reader

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _duck_type(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    mapping: dict[Callable[[pa.DataType], bool], str] = {
        pa.types.is_string: "VARCHAR",
        pa.types.is_large_string: "VARCHAR",
        pa.types.is_int64: "BIGINT",
        pa.types.is_int32: "INTEGER",
        pa.types.is_date32: "DATE",
        pa.types.is_boolean: "BOOLEAN",
        pa.types.is_floating: "DOUBLE",
        pa.types.is_timestamp: "TIMESTAMP",
    }
    for test, name in mapping.items():
        if test(arrow_type):
            return name
    return "VARCHAR"
