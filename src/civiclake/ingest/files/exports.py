"""Full exports (``full_export: true``): each file is the whole of a dataset at a time.

A council's monthly spreadsheet — every tenancy with its balance — is a *snapshot*, not
a list of changes. Each file is applied to the dataset's history (``observed`` mode of
:mod:`civiclake.snapshots`) at its *effective time*: the date in its name (a pattern
such as ``rent_accounts_{month:%Y-%m}.csv``), a column (``effective_column``), or else
its arrival. So:

* a record whose tracked values changed since the export in force at that time is a
  new version, valid from the export's time; an unchanged one adds nothing;
* a key absent from the export is deleted as of it (unless rows were rejected: then
  absence proves nothing, and the step says so);
* an older export arriving late is compared with the export before it and slots in at
  its own time; the keys it changed get back, at the next export's time, what that
  export recorded — later months answer exactly as before;
* a re-sent identical export changes nothing.

The effective times applied so far are kept with the source's cursors (``exports:…``),
so a late file knows the next export's time even when that export changed nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from civiclake import lineage
from civiclake.ingest.exceptions import BadFileError
from civiclake.naming import quote
from civiclake.storage.staged import sql_literal

if TYPE_CHECKING:
    import duckdb

    from civiclake.ingest.files.load import Loaded, _File
    from civiclake.ingest.files.readers import Parsed
    from civiclake.ingest.files.source import FilesSource

BATCH_ROWS = 122_880


def apply_export(
    file: _File, con: duckdb.DuckDBPyConnection, loaded: Loaded, parsed: Parsed
) -> bool:
    """Apply the good rows of one export to the dataset's history.

    In a single pass (``parsed.verify`` set) the rows stream into the history engine,
    which stages the whole export before it writes anything: if a row turns out to have
    been rejected the stream is aborted there and False returned (nothing committed; the
    caller reads the file again in two passes).
    """
    from civiclake.ingest.files.load import _verified, conformed
    from civiclake.snapshots import HistoryError, HistorySpec, apply_increment

    source, req = file.source, file.req
    config, project, ref = source.config, source.project, source.dataset
    # in a single pass ``good`` has no _source_row yet: the stream numbers the rows
    query = conformed(file, con, "SELECT * FROM good", loaded)
    effective = effective_time(source, req.name, con, query)
    applied = exports_applied(source)
    later = sorted(t for t in applied if t > effective)
    spec = HistorySpec(
        key=tuple(config.key),
        version=config.version,
        mode="observed",
        track=tuple(config.track) if isinstance(config.track, list) else None,
        deletes=config.deletes,
    )
    source_file = sql_literal(str(file.stamp.values[lineage.SOURCE_FILE]))
    data = con.sql(f"SELECT *, {source_file} AS {quote(lineage.SOURCE_FILE)} FROM ({query})")
    keep, readable = _unreadable_keys(con, config.key) if parsed.rejected else (None, True)
    full = readable
    reader = data.to_arrow_reader(BATCH_ROWS)
    aborted: list[bool] = []
    if parsed.verify is not None:
        reader = _verified(reader, parsed.verify, parsed.first_row, aborted)
    try:
        result = apply_increment(
            project.catalog,
            ref,
            reader,
            spec,
            # the same bytes under another export's name are that export: its own batch
            app_id=f"file:{file.received.sha256}:{file.req.name}",
            import_id=file.ctx.import_id,
            producer=source.name,
            description=config.description,
            owner=config.owner,
            pii=config.pii,
            observed_at=effective,
            full=full,
            compare_at=effective,
            reassert_at=later[0] if later else None,
            keep=keep,
        )
    except HistoryError as exc:
        if aborted:  # our own abort, surfacing through the engine's read of the stream
            return False
        raise BadFileError(f"{req.name}: {exc} (see {req.config_file})") from None
    except Exception:
        if aborted:
            return False
        raise
    record_export(source, effective)
    if parsed.verify is not None:  # a single pass counts the rows as they stream
        loaded.rows = result.rows_in
    loaded.written = result.versions
    loaded.bytes_written += result.bytes_written
    loaded.notes.extend(f"{req.name}: {n}" for n in result.notes)
    when = f"{effective:%Y-%m-%d %H:%M}".removesuffix(" 00:00")
    if result.already_applied:
        loaded.notes.append(f"{req.name}: export of {when} was applied by an interrupted run")
        return True
    loaded.notes.append(
        f"{req.name}: export of {when}: {result.versions - result.deletes} new or changed, "
        f"{result.deletes} gone, {result.unchanged} unchanged"
        + (f" (slotted in before the export of {later[0]:%Y-%m-%d})" if later else "")
    )
    if not full:
        loaded.notes.append(
            f"{req.name}: {parsed.rejected} row(s) rejected and their keys unreadable, so "
            "records absent from this export were not marked deleted; fix the file or the "
            f"config and run `civiclake files reprocess {source.name}`"
        )
    elif parsed.rejected:
        loaded.notes.append(
            f"{req.name}: {parsed.rejected} row(s) rejected: their records keep their last "
            f"version until a readable export (see {ref.qualified}__rejected)"
        )
    return True


def _unreadable_keys(con: duckdb.DuckDBPyConnection, key: list[str]) -> tuple[object, bool]:
    """The key values of rejected rows, read from their raw text: (keys as an Arrow table,
    whether every rejected row's key could be told). A rejected row's record was in the
    export, so its absence from the good rows is no delete. Only single-column keys can
    be picked out of a raw line (every field of it is a candidate value)."""
    import pyarrow as pa

    lines = [r[0] for r in con.sql("SELECT raw_line FROM rejects").fetchall()]
    if len(key) != 1 or any(not line for line in lines):
        return None, False
    values: set[str] = set()
    for line in lines:
        text = str(line)
        for field in re.split(r"[,;\t|]", text):
            values.add(field.strip().strip('"').strip())
        if text.startswith("{"):  # a JSON or Excel row, as JSON
            with contextlib.suppress(ValueError):
                values.update(str(v) for v in json.loads(text).values() if v is not None)
    return pa.table({key[0]: pa.array(sorted(values), pa.string())}), True


def effective_time(
    source: FilesSource, name: str, con: duckdb.DuckDBPyConnection, query: str
) -> datetime:
    """The moment an export describes: from ``effective_column``, the file's name, or now."""
    config = source.config
    if config.effective_column is not None:
        column = quote(config.effective_column)
        try:
            low, high, missing = con.sql(
                f"SELECT min(CAST({column} AS TIMESTAMP)), max(CAST({column} AS TIMESTAMP)), "
                f"count(*) FILTER ({column} IS NULL) FROM ({query})"
            ).fetchall()[0]
        except Exception as exc:  # DuckDB binder or conversion error
            raise BadFileError(
                f"{name}: effective_column {config.effective_column!r} cannot be read as a "
                f"date: {str(exc).splitlines()[0]} (see {source.config_file})"
            ) from None
        if low is None or missing:
            raise BadFileError(
                f"{name}: effective_column {config.effective_column!r} is empty on "
                f"{missing} row(s); every row of an export must carry its date"
            )
        if low != high:
            raise BadFileError(
                f"{name}: effective_column {config.effective_column!r} holds more than one "
                f"date ({low:%Y-%m-%d} to {high:%Y-%m-%d}); an export describes one moment — "
                "split the file, or date it by its name instead"
            )
        return low
    dated = [p for p in config.patterns if "{" in p]
    if dated:
        found = config.effective_time(name)
        if found is None:
            raise BadFileError(
                f"{name}: cannot read the export's date from its name with "
                f"{', '.join(dated)} (in {source.config_file}); rename the file to match, "
                "e.g. " + _example(dated[0])
            )
        return found
    return datetime.now(UTC).replace(tzinfo=None)


def _example(pattern: str) -> str:
    from civiclake.ingest.files.config import _PLACEHOLDER

    match = _PLACEHOLDER.search(pattern)
    if match is None:
        return pattern
    sample = datetime(2026, 3, 1).strftime(match.group(2))
    return pattern.replace(match.group(0), sample).replace("*", "")


def _cursor_name(source: FilesSource) -> str:
    return f"exports:{source.dataset.qualified}"


def exports_applied(source: FilesSource) -> list[datetime]:
    raw = source.project.store.get_cursor(source.name, _cursor_name(source))
    return [datetime.fromisoformat(t) for t in json.loads(raw)] if raw else []


def forget_exports(source: FilesSource) -> None:
    """Before a rebuild from landing replays every export."""
    source.project.store.set_cursor(source.name, _cursor_name(source), "[]")


def record_export(source: FilesSource, effective: datetime) -> None:
    applied = set(exports_applied(source))
    if effective in applied:
        return
    times = sorted({*applied, effective})
    value = json.dumps([t.isoformat() for t in times])
    source.project.store.set_cursor(source.name, _cursor_name(source), value)
