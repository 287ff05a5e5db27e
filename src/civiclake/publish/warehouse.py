"""The PostgreSQL side: connections, bulk loads by ``COPY``, and what has been published.

Rows travel DuckDB → Arrow batches → CSV text → ``COPY … FROM STDIN``, streamed
batch by batch (bounded memory, no per-row Python). CSV is what PostgreSQL
parses fastest without an extension, and it is the method the benchmark's
baseline uses too.

What the warehouse holds of each dataset is recorded *in the warehouse*, in
``_civiclake.published``, inside the same transaction as the data: a crash
after the commit cannot make the next publish apply an increment twice. The
metadata store gets a copy for ``civiclake publish --status``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from civiclake.exceptions import MissingDependencyError
from civiclake.naming import quote as q
from civiclake.publish.exceptions import WarehouseError, WarehouseUnreachable

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

STATE_SCHEMA = "_civiclake"


def qual(schema: str, name: str) -> str:
    return f"{q(schema)}.{q(name)}"


@dataclass(frozen=True)
class Published:
    """The warehouse's record of one dataset."""

    dataset: str
    table_id: str
    delta_version: int
    max_seq: int | None
    columns: list[list[str]]
    rows: int


class Warehouse:
    """One PostgreSQL database that BI tools read."""

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            import psycopg
        except ImportError:
            raise MissingDependencyError("psycopg", "postgres") from None
        from civiclake.config.secrets import REDACTOR

        REDACTOR.add(_password(self.url))
        try:
            conn = psycopg.connect(self.url, autocommit=False)
        except psycopg.OperationalError as exc:
            raise WarehouseUnreachable(
                f"cannot connect to the warehouse: {REDACTOR(str(exc)).strip()}; check "
                "`warehouse.url` in civiclake.yaml"
            ) from None
        try:
            yield conn
        finally:
            conn.close()

    def ensure_state(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(STATE_SCHEMA)}")
        conn.execute(f"REVOKE ALL ON SCHEMA {q(STATE_SCHEMA)} FROM PUBLIC")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {qual(STATE_SCHEMA, 'published')} ("
            "dataset text PRIMARY KEY, table_id text NOT NULL, delta_version bigint NOT NULL, "
            "max_seq bigint, columns jsonb NOT NULL, rows bigint NOT NULL, "
            "published_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.commit()

    def published(self, conn: psycopg.Connection[Any], dataset: str) -> Published | None:
        row = conn.execute(
            "SELECT dataset, table_id, delta_version, max_seq, columns, rows FROM "
            f"{qual(STATE_SCHEMA, 'published')} WHERE dataset = %s",
            (dataset,),
        ).fetchone()
        return None if row is None else Published(*row)

    def record(self, conn: psycopg.Connection[Any], state: Published) -> None:
        conn.execute(
            f"INSERT INTO {qual(STATE_SCHEMA, 'published')} AS p "
            "(dataset, table_id, delta_version, max_seq, columns, rows) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (dataset) DO UPDATE SET "
            "table_id = excluded.table_id, delta_version = excluded.delta_version, "
            "max_seq = excluded.max_seq, columns = excluded.columns, rows = excluded.rows, "
            "published_at = now()",
            (
                state.dataset,
                state.table_id,
                state.delta_version,
                state.max_seq,
                json.dumps(state.columns),
                state.rows,
            ),
        )


def copy_in(
    conn: psycopg.Connection[Any],
    table: str,
    reader: pa.RecordBatchReader,
    columns: Sequence[str] | None = None,
) -> int:
    """Stream ``reader`` into ``table`` (qualified, quoted) with CSV ``COPY``; returns rows.

    A thread turns batches into CSV (DuckDB and Arrow release the GIL) while this one
    feeds PostgreSQL, so the two cores work at once; the queue bounds memory to a few
    batches.
    """
    import queue
    import threading

    import pyarrow.csv as pacsv

    names = columns if columns is not None else reader.schema.names
    target = f"{table} ({', '.join(q(c) for c in names)})"
    options = pacsv.WriteOptions(include_header=False, batch_size=65_536, quoting_style="needed")
    chunks: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in reader:
                if stop.is_set():
                    return
                if batch.num_rows:
                    buffer = io.BytesIO()
                    pacsv.write_csv(batch, buffer, options)
                    chunks.put((buffer.getvalue(), batch.num_rows))
            chunks.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            chunks.put(exc)

    worker = threading.Thread(target=produce, name="civiclake-copy", daemon=True)
    worker.start()
    rows = 0
    try:
        with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN (FORMAT csv)") as copy:
            while (item := chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                copy.write(item[0])
                rows += item[1]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                chunks.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    return rows


def _password(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def wrap_error(exc: Exception, dataset: str) -> WarehouseError:
    from civiclake.config.secrets import REDACTOR

    return WarehouseError(
        f"publishing {dataset} failed and was rolled back (readers still see the previous "
        f"table): {REDACTOR(str(exc)).strip()}"
    )
