"""Decode a micro-batch of message values (Avro or JSON) into flat typed Arrow.

**Avro** values are in the Confluent wire format (magic byte ``0``, the writer
schema's id, the record). Headers are checked for the whole batch with Arrow
compute; messages are grouped by schema id, and each group's payloads are
decoded in one go: laid end to end they are exactly one block of an Avro
object container file, so a container header for that schema plus the block is
read by polars' Rust Avro reader (~200,000 events/s on one core, against
~15,000 for fastavro record by record). When polars is not installed, or a
block does not decode, the group is decoded message by message with fastavro —
which also finds the message that broke the block; it is rejected, the rest
are kept.

**JSON** values are one JSON object each, read with Arrow's JSON reader against
the schema (from ``value_schema`` or the registry); a batch with an unreadable
value is re-read line by line to find it.

A value is rejected (never silently dropped) when its framing is wrong, its
schema id is unknown, or it does not decode; the reason names what was wrong.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from civiclake.ingest.streams.schema_registry import UnknownSchemaError
from civiclake.ingest.streams.typing import (
    Column,
    Timestamps,
    columns,
    dates_by_name,
    decoder_schema,
    flatten,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.ingest.streams.schema_registry import RegistryClient

Format = Literal["avro", "json"]


@dataclass
class Decoded:
    """A batch decoded: the good rows (flat, typed, in batch order) and the rejected."""

    table: pa.Table
    rows: pa.Array
    """Position in the batch of each row of ``table``."""
    rejected: list[tuple[int, str]] = field(default_factory=list)
    """(position in the batch, reason)."""
    schema_ids: pa.Array | None = None
    """The writer schema id of each row (Avro)."""


def _varint(n: int) -> bytes:
    """Avro's zig-zag variable-length long."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Decoder:
    """Decodes one topic's message values; keeps the newest schema it has seen."""

    def __init__(
        self,
        format: Format,
        *,
        registry: RegistryClient | None = None,
        value_schema: dict[str, Any] | None = None,
        timestamps: Timestamps = dates_by_name,
    ) -> None:
        self.format = format
        self.registry = registry
        self.value_schema = value_schema
        self.timestamps = timestamps
        self._newest: int | None = None
        self._containers: dict[int, tuple[bytes, bytes]] = {}

    # -- the schema the table follows ---------------------------------------------------
    def columns(self) -> list[Column]:
        """Flat columns of the newest schema seen (or the configured one)."""
        if self._newest is not None and self.registry is not None:
            return columns(self.registry.schema_json(self._newest), self.timestamps)
        if self.value_schema is not None:
            return columns(self.value_schema, self.timestamps)
        return []

    def decode(self, values: pa.Array) -> Decoded:
        if self.format == "json":
            return self._json(values)
        return self._avro(values)

    # -- Avro ---------------------------------------------------------------------------
    def _avro(self, values: pa.Array) -> Decoded:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(values)
        heads = pc.binary_slice(values, 0, 5)
        unique = pc.unique(heads)
        ids: dict[int, int] = {}  # position in unique → schema id
        rejected: list[tuple[int, str]] = []
        bad_heads: dict[int, str] = {}
        for i, head in enumerate(unique.to_pylist()):
            reason = self._check_head(head)
            if isinstance(reason, str):
                bad_heads[i] = reason
            else:
                ids[i] = reason
        single = len(ids) == 1 and not bad_heads  # the usual batch: one schema, no poison
        which = None if single else pc.index_in(heads, value_set=unique)
        for i, reason in bad_heads.items():
            assert which is not None
            for row in pc.indices_nonzero(pc.equal(which, i)).to_pylist():
                rejected.append((row, reason))
        if (self._newest is None or (ids and max(ids.values()) > self._newest)) and ids:
            self._newest = max([*ids.values(), self._newest or 0])
        target = self.columns()
        parts: list[pa.Table] = []
        rows: list[pa.Array] = []
        sids: list[pa.Array] = []
        for i, schema_id in sorted(ids.items(), key=lambda item: item[1]):
            if which is None:  # every message: no selection, no copy
                positions = pa.array(range(n), pa.int64())
                payloads = pc.binary_slice(values, 5, 1 << 30)
            else:
                positions = pc.indices_nonzero(pc.equal(which, i))
                payloads = pc.binary_slice(values.take(positions), 5, 1 << 30)
            table, good, bad = self._decode_group(schema_id, payloads, target)
            for j, reason in bad:
                rejected.append((positions[j].as_py(), reason))
            if table.num_rows:
                kept = positions if good is None else positions.take(good)
                parts.append(table)
                rows.append(kept)
                sids.append(pa.array([schema_id] * table.num_rows, pa.int32()))
        return self._ordered(parts, rows, sids, rejected, target, n)

    def _check_head(self, head: bytes | None) -> int | str:
        """The schema id in a message's first 5 bytes, or why it cannot be read."""
        if head is None or len(head) < 5:
            return "not in the Confluent wire format: shorter than its 5-byte header"
        if head[0] != 0:
            return (
                f"not in the Confluent wire format: magic byte is {head[0]}, not 0 "
                "(is this topic's data Avro with a schema registry? set `format: json` otherwise)"
            )
        schema_id = int.from_bytes(head[1:5], "big")
        assert self.registry is not None
        try:
            self.registry.schema(schema_id)
        except UnknownSchemaError as exc:
            return str(exc)
        return schema_id

    def _container(self, schema_id: int) -> tuple[bytes, bytes]:
        """An object container header for ``schema_id`` and its sync marker."""
        if schema_id not in self._containers:
            import fastavro

            assert self.registry is not None
            out = io.BytesIO()
            fastavro.writer(out, self.registry.schema(schema_id), [], codec="null")
            header = out.getvalue()
            self._containers[schema_id] = (header, header[-16:])
        return self._containers[schema_id]

    def _decode_group(
        self, schema_id: int, payloads: pa.Array, target: list[Column]
    ) -> tuple[pa.Table, pa.Array | None, list[tuple[int, str]]]:
        """One schema's payloads, flat: (rows, positions kept or None for all, rejected).

        A block that does not decode is split in halves until the bad payloads are
        found, so one poison message costs a few block reads, not a slow path for all.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        polars = _polars()
        if polars is None or len(payloads) <= 16:
            table, good, bad = self._one_by_one(schema_id, payloads)
            return flatten(table, target), good, bad
        whole = self._block(polars, schema_id, payloads)
        if whole is not None:
            return flatten(whole, target), None, []
        half = len(payloads) // 2
        tables, kept, rejected = [], [], []
        for start, part in ((0, payloads.slice(0, half)), (half, payloads.slice(half))):
            table, good, bad = self._decode_group(schema_id, part, target)
            tables.append(table)
            every = pa.array(range(len(part)), pa.int64()) if good is None else good
            kept.append(pc.add(every, start))
            rejected += [(start + j, reason) for j, reason in bad]
        return pa.concat_tables(tables), pa.concat_arrays(kept), rejected

    def _block(self, polars: ModuleType, schema_id: int, payloads: pa.Array) -> pa.Table | None:
        """The payloads read as one container block by polars (None: it does not decode)."""
        header, sync = self._container(schema_id)
        _, offsets, data = payloads.buffers()
        bounds = memoryview(offsets).cast("i")  # int32 offsets of a binary array
        start, end = bounds[payloads.offset], bounds[payloads.offset + len(payloads)]
        body = memoryview(data)[start:end] if data is not None else b""
        block = b"".join((header, _varint(len(payloads)), _varint(len(body)), body, sync))
        try:
            frame = polars.read_avro(io.BytesIO(block))
        except Exception:  # a bad payload somewhere in the block
            return None
        return frame.to_arrow() if frame.height == len(payloads) else None

    def _one_by_one(
        self, schema_id: int, payloads: pa.Array
    ) -> tuple[pa.Table, pa.Array, list[tuple[int, str]]]:
        import fastavro
        import pyarrow as pa

        assert self.registry is not None
        schema = self.registry.schema(schema_id)
        records: list[Any] = []
        good: list[int] = []
        bad: list[tuple[int, str]] = []
        for j, payload in enumerate(payloads.to_pylist()):
            stream = io.BytesIO(payload)
            try:
                record = fastavro.schemaless_reader(stream, schema, None)
            except Exception as exc:
                bad.append((j, f"not valid Avro for schema id {schema_id}: {exc}"))
                continue
            if stream.tell() != len(payload):
                bad.append(
                    (
                        j,
                        f"not valid Avro for schema id {schema_id}: "
                        f"{len(payload) - stream.tell()} byte(s) left after the record",
                    )
                )
                continue
            records.append(record)
            good.append(j)
        arrow = decoder_schema(self.registry.schema_json(schema_id))
        return pa.Table.from_pylist(records, schema=arrow), pa.array(good, pa.int64()), bad

    # -- Avro object container files --------------------------------------------------
    def container(self, data: bytes) -> pa.Table:
        """The records of an Avro object container file, flat and typed by its own schema.

        Raises ``ValueError`` naming the problem when the bytes are not such a file.
        """
        import fastavro
        import pyarrow as pa

        try:
            schema = dict(fastavro.reader(io.BytesIO(data)).writer_schema)  # type: ignore[arg-type]
        except Exception as exc:
            raise ValueError(f"not an Avro object container file: {exc}") from None
        target = columns(schema, self.timestamps)
        polars = _polars()
        if polars is not None:
            try:
                return flatten(polars.read_avro(io.BytesIO(data)).to_arrow(), target)
            except Exception:
                pass  # read it again with fastavro, which says what is wrong
        try:
            records = list(fastavro.reader(io.BytesIO(data)))
        except Exception as exc:
            raise ValueError(f"the Avro file does not decode: {exc}") from None
        return flatten(pa.Table.from_pylist(records, schema=decoder_schema(schema)), target)

    # -- JSON ---------------------------------------------------------------------------
    def _json(self, values: pa.Array) -> Decoded:
        import pyarrow as pa

        if self.value_schema is None:
            from civiclake.ingest.exceptions import IngestError

            raise IngestError(
                "JSON messages need a schema to be typed: set `value_schema` (an Avro schema "
                "file, .avsc) or `schema_registry` in the source's settings"
            )
        target = self.columns()
        texts = values.to_pylist()
        good = list(range(len(texts)))
        rejected: list[tuple[int, str]] = []
        table = self._read_json(texts, good)
        if table is None:  # something in the batch is not a JSON object: find it
            good = []
            for i, text in enumerate(texts):
                reason = _json_problem(text)
                if reason:
                    rejected.append((i, reason))
                else:
                    good.append(i)
            table = self._read_json(texts, good)
        if table is None:  # an object whose values do not fit the schema: find it
            fits, tables = [], []
            for i in good:
                one = self._read_json(texts, [i])
                if one is None:
                    rejected.append((i, "does not fit the schema (a value of the wrong type)"))
                else:
                    fits.append(i)
                    tables.append(one)
            good = fits
            table = pa.concat_tables(tables) if tables else self._read_json(texts, [])
            rejected.sort()
        assert table is not None
        flat = flatten(table, target)
        return Decoded(flat, pa.array(good, pa.int64()), rejected, None)

    def _read_json(self, texts: list[bytes | None], rows: list[int]) -> pa.Table | None:
        import pyarrow as pa
        import pyarrow.json as pj

        assert self.value_schema is not None
        schema = decoder_schema(self.value_schema)
        if not rows:
            return schema.empty_table()
        lines = []
        for i in rows:
            text = texts[i]
            if not text or not text.strip():
                return None
            lines.append(text.replace(b"\n", b" "))
        try:
            table = pj.read_json(
                io.BytesIO(b"\n".join(lines)),
                parse_options=pj.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="ignore"
                ),
            )
        except pa.ArrowInvalid:
            return None
        return table.select(schema.names) if table.num_rows == len(rows) else None

    # -- putting the groups back in order ----------------------------------------------
    def _ordered(
        self,
        parts: list[pa.Table],
        rows: list[pa.Array],
        sids: list[pa.Array],
        rejected: list[tuple[int, str]],
        target: list[Column],
        n: int,
    ) -> Decoded:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not parts:
            empty = pa.schema([pa.field(c.name, c.type) for c in target]).empty_table()
            return Decoded(empty, pa.array([], pa.int64()), sorted(rejected), None)
        table = pa.concat_tables(parts, promote_options="permissive")
        positions = pa.concat_arrays([r.cast(pa.int64()) for r in rows])
        schema_ids = pa.concat_arrays(sids)
        if len(parts) > 1 or pc.any(pc.less(positions[1:], positions[:-1])).as_py():
            order = pc.sort_indices(positions)
            table, positions, schema_ids = (
                table.take(order),
                positions.take(order),
                schema_ids.take(order),
            )
        return Decoded(table, positions, sorted(rejected), schema_ids)


def _polars() -> ModuleType | None:
    """polars, whose Rust Avro reader decodes blocks ~15x faster than fastavro, if installed."""
    try:
        import polars
    except ImportError:
        return None
    return polars


def _json_problem(text: bytes | None) -> str | None:
    if not text or not text.strip():
        return "empty message"
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"not a JSON object but a {type(value).__name__}"
    return None


__all__ = ["Decoded", "Decoder", "Format"]
