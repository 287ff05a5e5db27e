"""The SQL that turns one history table into latest, history and as-of.

A keyed dataset ``x`` is one Delta table partitioned by ``_part``:

``base``
    the latest version of every key as of the last compaction — deletes
    included, as tombstones, so that a late older version cannot bring a
    deleted key back;
``recent``
    every version that arrived since (appended, one file per increment);
``archive-<n>``
    versions that were superseded (or deleted) when compaction ``n`` ran.

Each version is in exactly one of them, so:

* ``x`` (latest) is ``base`` without the keys ``recent`` touched, plus the
  newest ``recent`` version of those keys, minus deletes;
* ``x__history`` is all three, with ``valid_to`` the next version's ``valid_from``
  and ``recorded_from``/``recorded_to`` the time ``x`` showed the version;
* ``x_as_of(t)`` is, per key, the newest version with ``valid_from`` by ``t`` (a
  date: its end), minus deletes — by *valid* time;
* ``x_as_known(t)`` is the same by *recorded* time: what ``x`` showed at ``t``;
* ``x_diff(t1, t2)`` compares two of those states key by key (``known := true``: two
  as-known states), one row per changed column.

Versions of one key are ordered by ``(valid_from, _seq)``; ``_seq`` grows with
import order, so a tie on ``valid_from`` goes to the later import.

The functions here take *relations* (SQL text naming something readable:
``read_parquet([...])``, a temp table) so the same text serves views,
macros and compaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from civiclake.naming import quote as q

VALID_FROM = "valid_from"
VALID_TO = "valid_to"
RECORDED = "_imported_at"
"""When civiclake wrote a version (its recorded time), stored with every version."""
RECORDED_FROM = "recorded_from"
RECORDED_TO = "recorded_to"
IS_DELETED = "is_deleted"
DELETED = "_deleted"
SEQ = "_seq"
PART = "_part"
BASE = "base"
RECENT = "recent"
ARCHIVE = "archive"

HIDDEN = (DELETED, PART)
"""Columns of the physical table that latest and as-of do not show."""


def _keys(key: Sequence[str]) -> str:
    return ", ".join(q(k) for k in key)


def newest_first(key: Sequence[str]) -> str:
    return f"PARTITION BY {_keys(key)} ORDER BY {q(VALID_FROM)} DESC, {q(SEQ)} DESC"


def winners(versions: str, key: Sequence[str]) -> str:
    """``_seq`` of the newest version per key among ``versions``.

    A hash aggregate over three narrow columns: much cheaper than a window
    over whole rows, and ``_seq`` is unique, so a semi join on it picks the
    winning rows.
    """
    k = _keys(key)
    newest = f"arg_max({q(SEQ)}, ({q(VALID_FROM)}, {q(SEQ)}))"
    return f"SELECT {newest} AS {q(SEQ)} FROM {versions} GROUP BY {k}"


def latest(
    base: str,
    recent: str | None,
    key: Sequence[str],
    *,
    recent_is_newer: bool,
    include_deleted: bool = False,
) -> str:
    """Latest version per key, deletes removed (``_deleted`` still present, all false).

    ``include_deleted`` keeps the keys whose latest version is a tombstone (a writer
    deciding whether a record is new needs to see them).

    ``recent_is_newer``: every recent version is at least as new as every
    base version, so a touched key's newest recent version always wins and
    base need not be consulted for it (one pass over base instead of two).
    """
    live = "" if include_deleted else f" WHERE NOT {q(DELETED)}"
    if recent is None:
        return f"SELECT * FROM {base}{live}"
    k = _keys(key)
    narrow = f"{k}, {q(VALID_FROM)}, {q(SEQ)}"
    touched = f"SELECT DISTINCT {k} FROM {recent}"
    if recent_is_newer:
        won = winners(recent, key)
        changed = f"SELECT * FROM {recent} SEMI JOIN ({won}) USING ({q(SEQ)})"
    else:
        versions = (
            f"(SELECT {narrow} FROM {base} SEMI JOIN ({touched}) USING ({k}) "
            f"UNION ALL SELECT {narrow} FROM {recent})"
        )
        won = winners(versions, key)
        changed = (
            f"SELECT * FROM (SELECT b.* FROM {base} AS b SEMI JOIN ({touched}) USING ({k}) "
            f"UNION ALL BY NAME SELECT * FROM {recent}) SEMI JOIN ({won}) USING ({q(SEQ)})"
        )
    return (
        f"SELECT * FROM (SELECT b.* FROM {base} AS b ANTI JOIN ({touched}) USING ({k}) "
        f"UNION ALL BY NAME {changed}){live}"
    )


def history(
    everything: str, key: Sequence[str], columns: Sequence[str], deletes: str = "invalidate"
) -> str:
    """Every version with its valid and recorded intervals; ``columns`` in table order.

    ``valid_to`` is the next version's ``valid_from``; ``recorded_to`` is when civiclake
    first held a version that outranks this one (so the version was what ``x`` showed
    from ``recorded_from`` until ``recorded_to``). Tombstones end the version before
    them; with ``deletes = new_record`` they are rows too, marked ``is_deleted``.
    """
    valid_to, recorded_to = intervals(key)
    select = []
    for name in columns:
        if name == DELETED:
            continue
        select.append(q(name))
        if name == VALID_FROM:
            select.append(q(VALID_TO))
            select.append(f"{q(RECORDED)} AS {q(RECORDED_FROM)}")
            select.append(q(RECORDED_TO))
    if deletes == "new_record":
        select.append(f"{q(DELETED)} AS {q(IS_DELETED)}")
    where = "" if deletes == "new_record" else f" WHERE NOT {q(DELETED)}"
    return (
        f"SELECT {', '.join(select)} FROM (SELECT *, {valid_to} AS {q(VALID_TO)}, "
        f"{recorded_to} AS {q(RECORDED_TO)} FROM {everything}){where}"
    )


def intervals(key: Sequence[str], open_end: str = "NULL") -> tuple[str, str]:
    """Window expressions for a version's ``valid_to`` (the next version's ``valid_from``,
    ``open_end`` for the current one) and ``recorded_to`` (when a version outranking it
    was first recorded), over rows holding at least key, ``valid_from``, ``_seq`` and
    ``_imported_at``."""
    window = f"PARTITION BY {_keys(key)} ORDER BY {q(VALID_FROM)}, {q(SEQ)}"
    outranked = (
        f"min({q(RECORDED)}) OVER ({window} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"
    )
    valid_to = f"lead({q(VALID_FROM)}) OVER ({window})"
    if open_end != "NULL":
        valid_to = f"coalesce({valid_to}, {open_end})"
    recorded_to = f"CASE WHEN {outranked} IS NOT NULL THEN greatest({q(RECORDED)}, {outranked}) END"
    return valid_to, recorded_to


def moment(value: str) -> str:
    """A macro argument as the instant it means: a date (or ``'YYYY-MM-DD'``) is the end
    of that day, a timestamp is itself (inclusive)."""
    text = f"CAST({value} AS VARCHAR)"
    return (
        f"(CASE WHEN typeof({value}) = 'DATE' OR length({text}) = 10 "
        f"THEN CAST(CAST({text} AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY "
        f"ELSE CAST({value} AS TIMESTAMP) + INTERVAL 1 MICROSECOND END)"
    )


def as_of(everything: str, key: Sequence[str], day: str) -> str:
    """What a full snapshot taken at ``day`` would hold, by valid time: per key the newest
    version valid by then, deletes removed (a date means the end of that day)."""
    return (
        f"SELECT * EXCLUDE ({q(DELETED)}) FROM (SELECT * FROM {everything} "
        f"WHERE {q(VALID_FROM)} < {moment(day)} "
        f"QUALIFY row_number() OVER ({newest_first(key)}) = 1) WHERE NOT {q(DELETED)}"
    )


def as_known(everything: str, key: Sequence[str], when: str) -> str:
    """Exactly what ``x`` showed at ``when``: the latest of the versions civiclake had
    recorded by then. Versions are only ever added, each recorded at its write, so the
    answer for a past moment never changes."""
    return (
        f"SELECT * EXCLUDE ({q(DELETED)}) FROM (SELECT * FROM {everything} "
        f"WHERE {q(RECORDED)} < {moment(when)} "
        f"QUALIFY row_number() OVER ({newest_first(key)}) = 1) WHERE NOT {q(DELETED)}"
    )


def state_at(everything: str, key: Sequence[str], when: str, known: str) -> str:
    """``as_of(when)``, or ``as_known(when)`` where the SQL boolean ``known`` is true."""
    m = moment(when)
    clock = f"CASE WHEN {known} THEN {q(RECORDED)} < {m} ELSE {q(VALID_FROM)} < {m} END"
    return (
        f"SELECT * EXCLUDE ({q(DELETED)}) FROM (SELECT * FROM {everything} WHERE {clock} "
        f"QUALIFY row_number() OVER ({newest_first(key)}) = 1) WHERE NOT {q(DELETED)}"
    )


DIFF_COLUMNS = ("change", "column_name", "old_value", "new_value")
"""``x_diff``'s own columns, the key columns between ``change`` and ``column_name``."""


def compared(columns: Sequence[str], key: Sequence[str]) -> list[str]:
    """The columns a diff compares: the record's own, not the key, the valid time or
    lineage (``_seq``, ``_imported_at``…)."""
    return [c for c in columns if c not in key and c != VALID_FROM and not c.startswith("_")]


def diff(before: str, after: str, key: Sequence[str], columns: Sequence[str]) -> str:
    """Two states of a keyed dataset compared, in long form: ``change`` (``added``,
    ``removed`` or ``changed``), the key columns, ``column_name``, ``old_value`` and
    ``new_value`` (as text).

    A changed key has one row per column whose value differs (null-safe: NULL to a
    value is a change, NULL to NULL is not); an added or removed key has one row per
    column, with its new or its old value. ``before`` and ``after`` are relations with
    ``_seq`` (present in every version), so a key's presence is never mistaken for a
    NULL value.
    """
    k = _keys(key)
    if columns:
        cells = ", ".join(
            f"{{'c': {_text(c)}, 'o': CAST(o.{q(c)} AS VARCHAR), "
            f"'n': CAST(n.{q(c)} AS VARCHAR), 'd': o.{q(c)} IS DISTINCT FROM n.{q(c)}}}"
            for c in columns
        )
        differs = " OR ".join(f"o.{q(c)} IS DISTINCT FROM n.{q(c)}" for c in columns)
    else:  # a dataset of keys only: its adds and removes still show
        cells = "{'c': NULL::VARCHAR, 'o': NULL::VARCHAR, 'n': NULL::VARCHAR, 'd': false}"
        differs = "false"
    old, new = f"o.{q(SEQ)}", f"n.{q(SEQ)}"
    change = (
        f"CASE WHEN {old} IS NULL THEN 'added' WHEN {new} IS NULL THEN 'removed' ELSE 'changed' END"
    )
    return (
        f"SELECT change, {k}, cell.c AS column_name, cell.o AS old_value, cell.n AS new_value "
        f"FROM (SELECT {change} AS change, {k}, unnest([{cells}]) AS cell "
        f"FROM ({before}) AS o FULL JOIN ({after}) AS n USING ({k}) "
        f"WHERE {old} IS NULL OR {new} IS NULL OR {differs}) "
        "WHERE change <> 'changed' OR cell.d"
    )


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def compaction(base: str, recent: str, key: Sequence[str]) -> tuple[list[str], str, str]:
    """How to fold ``recent`` into ``base``: set-up statements, new base, retired versions.

    The set-up makes two small temp tables — the keys ``recent`` touched and
    the ``_seq`` of each touched key's newest version (a narrow aggregate) —
    so the two queries that follow each read the tiers once: the new ``base``
    is base without the touched keys plus their newest versions (tombstones
    too); ``archive`` gets the other versions of the touched keys.
    """
    k = _keys(key)
    narrow = f"{k}, {q(VALID_FROM)}, {q(SEQ)}"
    setup = [
        f"CREATE OR REPLACE TEMP TABLE __touched AS SELECT DISTINCT {k} FROM {recent}",
        "CREATE OR REPLACE TEMP TABLE __won AS "
        + winners(
            f"(SELECT {narrow} FROM {base} SEMI JOIN __touched USING ({k}) "
            f"UNION ALL SELECT {narrow} FROM {recent})",
            key,
        ),
    ]
    candidates = (
        f"(SELECT b.* FROM {base} AS b SEMI JOIN __touched USING ({k}) "
        f"UNION ALL BY NAME SELECT * FROM {recent})"
    )
    new_base = (
        f"SELECT b.* FROM {base} AS b ANTI JOIN __touched USING ({k}) "
        f"UNION ALL BY NAME SELECT * FROM {candidates} SEMI JOIN __won USING ({q(SEQ)})"
    )
    retired = f"SELECT * FROM {candidates} ANTI JOIN __won USING ({q(SEQ)})"
    return setup, new_base, retired
