"""Observed history: each increment is the source's state, seen at a time.

Each finding of issue 14 about back-dated history is a test here: deletes and undatable
changes take the observation time, a column added at the source versions nothing, a
revived record comes back, a repeated delete adds nothing; ``x_as_known(t)`` answers
exactly what ``x`` showed at ``t``; ``x_as_of`` takes any timestamp or date.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civiclake import Project, init_project
from civiclake.snapshots import HistoryError, HistorySpec, apply_increment, compact, open_history
from civiclake.storage import DatasetRef

REF = DatasetRef("housing", "raw", "tenancies")
SYNCED = HistorySpec(
    key=("ref",), version="updated_at", deleted="gone", mode="observed", deletes="invalidate"
)
EXPORTS = HistorySpec(key=("ref",), version=None, mode="observed")


def make_project(root: Path) -> Project:
    init_project(root, departments=["housing"])
    return Project.load(root)


class Lake:
    """One project and the increments applied to its dataset."""

    def __init__(self, root: Path, spec: HistorySpec) -> None:
        self.project = make_project(root)
        self.spec = spec
        self.applied = 0

    def see(self, records: list[dict[str, Any]], at: datetime, **options: Any) -> Any:
        self.applied += 1
        columns: dict[str, list[Any]] = {}
        for record in records:
            for name in record:
                columns.setdefault(name, [])
        for name in columns:
            columns[name] = [r.get(name) for r in records]
        empty = {"ref": pa.array([], pa.int64()), "rent": pa.array([], pa.int64())}
        data = pa.table(columns) if records else pa.table(empty)
        return apply_increment(
            self.project.catalog,
            REF,
            data,
            self.spec,
            app_id=f"batch{self.applied}",
            import_id=f"i{self.applied}",
            producer="test",
            observed_at=at,
            **options,
        )

    def rows(self, sql: str) -> list[dict[str, Any]]:
        session = self.project.engine().session()
        try:
            session.register([REF])
            return session.sql(sql).read_all().to_pylist()
        finally:
            session.close()

    def state(self, relation: str, *columns: str) -> dict[int, tuple[Any, ...]]:
        cols = ", ".join(columns)
        found = self.rows(f"SELECT ref, {cols} FROM housing_raw.{relation}")
        return {r["ref"]: tuple(r[c] for c in columns) for r in found}

    def count(self, relation: str) -> int:
        return int(self.rows(f"SELECT count(*) AS n FROM housing_raw.{relation}")[0]["n"])


def day(text: str) -> datetime:
    return datetime.fromisoformat(text)


def accounts(n: int, stamp: datetime, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"ref": i, "rent": 100 + i, "updated_at": stamp, "gone": False, **extra} for i in range(n)
    ]


# -- finding 1: deletes are dated when seen ------------------------------------------
def test_a_delete_found_by_a_later_sync_is_dated_when_it_was_seen(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p", SYNCED)
    lake.see(accounts(20, day("2016-10-31")), day("2016-11-01"), full=True)
    assert lake.count("tenancies_as_of(DATE '2016-12-01')") == 20
    # a sync in 2017 finds five keys gone (the table's newest updated_at is still 2016)
    result = lake.see(accounts(20, day("2016-10-31"))[5:], day("2017-01-15"), full=True)
    assert result.deletes == 5
    assert lake.count("tenancies_as_of(DATE '2016-12-01')") == 20  # the past did not move
    assert lake.count("tenancies_as_of(DATE '2017-01-14')") == 20
    assert lake.count("tenancies_as_of(DATE '2017-01-15')") == 15
    ended = lake.rows(
        "SELECT ref, valid_to FROM housing_raw.tenancies__history WHERE ref < 5 ORDER BY ref"
    )
    assert [r["valid_to"] for r in ended] == [day("2017-01-15")] * 5


def test_a_delete_by_the_source_rule_is_dated_by_its_stamp_when_it_moved_on(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "p", SYNCED)
    lake.see(accounts(3, day("2026-01-01")), day("2026-01-02"))
    closed = {"ref": 1, "rent": 101, "updated_at": day("2026-02-01"), "gone": True}
    assert lake.see([closed], day("2026-03-01")).deletes == 1
    assert set(lake.state("tenancies_as_of(DATE '2026-01-31')", "rent")) == {0, 1, 2}
    assert set(lake.state("tenancies_as_of(DATE '2026-02-01')", "rent")) == {0, 2}
    # the same delete sent again, and at a later version: nothing more
    assert lake.see([closed], day("2026-03-02")).versions == 0
    later = {**closed, "updated_at": day("2026-02-15")}
    assert lake.see([later], day("2026-03-03")).versions == 0
    assert lake.count("tenancies__history WHERE ref = 1") == 1


# -- finding 2: undatable changes take the observation time --------------------------
def test_a_change_that_did_not_move_updated_at_is_dated_when_seen(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p", SYNCED)
    lake.see(accounts(3, day("1985-06-01")), day("2020-01-01"), full=True)
    renamed = accounts(3, day("1985-06-01"))
    renamed[1]["rent"] = 999  # a 2020 correction that left updated_at alone
    backwards = renamed[2] | {"rent": 7, "updated_at": day("1980-01-01")}  # clock went back
    result = lake.see([renamed[0], renamed[1], backwards], day("2020-03-01"), full=True)
    assert result.versions == 2 and result.unchanged == 1
    assert lake.state("tenancies_as_of(DATE '1990-01-01')", "rent") == {
        0: (100,),
        1: (101,),
        2: (102,),
    }
    assert lake.state("tenancies", "rent") == {0: (100,), 1: (999,), 2: (7,)}
    dated = lake.rows(
        "SELECT ref, valid_from FROM housing_raw.tenancies__history WHERE valid_to IS NULL "
        "AND ref > 0 ORDER BY ref"
    )
    assert [r["valid_from"] for r in dated] == [day("2020-03-01")] * 2


def test_a_fast_source_clock_never_dates_a_change_after_it_was_seen(tmp_path: Path) -> None:
    """updated_at ahead of the sync's clock (a server set to the wrong year): the version
    is valid from when it was seen, so as-of answers in between show it."""
    lake = Lake(tmp_path / "p", SYNCED)
    lake.see(accounts(1, day("2200-05-01")), day("2026-04-01"))
    lake.see([accounts(1, day("2200-05-01"))[0] | {"rent": 5}], day("2026-04-02"))
    [first, second] = lake.rows(
        "SELECT rent, valid_from, valid_to FROM housing_raw.tenancies__history ORDER BY _seq"
    )
    assert first["valid_from"] == day("2026-04-01")
    assert first["valid_to"] == second["valid_from"] == day("2026-04-02")
    assert lake.state("tenancies_as_of(DATE '2026-04-02')", "rent") == {0: (5,)}


# -- speed: only the versions of an observation are kept, the rest are counted ----------
def test_an_observation_counts_unchanged_rows_apart_from_changes_and_deletes(
    tmp_path: Path,
) -> None:
    """Most of a full export is unchanged; only its versions are staged, and the rows
    left are counted as unchanged (a delete, new or repeated, never is)."""
    lake = Lake(tmp_path / "p", SYNCED)
    lake.see(accounts(4, day("2026-01-01")), day("2026-01-02"), full=True)
    seen = accounts(4, day("2026-01-01"))
    seen[1]["rent"] = 7
    seen[2]["gone"] = True
    first = lake.see(seen, day("2026-01-03"), full=True)
    assert (first.versions, first.deletes, first.unchanged) == (2, 1, 2)
    again = lake.see(seen, day("2026-01-04"), full=True)  # the delete repeated: nothing
    assert (again.versions, again.unchanged) == (0, 3)
    assert lake.state("tenancies", "rent") == {0: (100,), 1: (7,), 3: (103,)}


def test_a_newer_export_compared_at_its_own_time_is_compared_with_latest(
    tmp_path: Path,
) -> None:
    """An export at or after every version (the usual month) compares with latest, and
    one slotted in before a later version compares with the state at its time."""
    lake = Lake(tmp_path / "p", EXPORTS)
    jan, feb, mar = day("2026-01-01"), day("2026-02-01"), day("2026-03-01")
    lake.see([{"ref": 1, "rent": 10}, {"ref": 2, "rent": 20}], jan, full=True, compare_at=jan)
    lake.see([{"ref": 1, "rent": 11}, {"ref": 2, "rent": 20}], mar, full=True, compare_at=mar)
    same = lake.see(
        [{"ref": 1, "rent": 11}, {"ref": 2, "rent": 20}], mar, full=True, compare_at=mar
    )
    assert (same.versions, same.unchanged) == (0, 2)
    late = lake.see(
        [{"ref": 1, "rent": 10}, {"ref": 2, "rent": 21}],
        feb,
        full=True,
        compare_at=feb,
        reassert_at=mar,
    )
    assert (late.unchanged, late.versions - late.deletes) == (1, 2)  # 2 changed, restored at March
    assert lake.state("tenancies_as_of(DATE '2026-02-15')", "rent") == {1: (10,), 2: (21,)}
    assert lake.state("tenancies", "rent") == {1: (11,), 2: (20,)}


# -- finding 3: a column added at the source -----------------------------------------
def test_a_nullable_column_added_at_the_source_versions_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p", SYNCED)
    lake.see(accounts(10, day("2026-01-01")), day("2026-01-02"), full=True)
    again = lake.see(
        accounts(10, day("2026-01-01"), arrears_flag=None), day("2026-01-03"), full=True
    )
    assert (again.versions, again.unchanged) == (0, 10)
    assert lake.count("tenancies__history") == 10
    filled = accounts(10, day("2026-01-01"), arrears_flag=None)
    filled[3]["arrears_flag"] = "Y"
    assert lake.see(filled, day("2026-01-04"), full=True).versions == 1
    assert lake.state("tenancies", "arrears_flag")[3] == ("Y",)


def test_only_tracked_columns_make_versions(tmp_path: Path) -> None:
    spec = HistorySpec(key=("ref",), version=None, mode="observed", track=("rent",))
    lake = Lake(tmp_path / "p", spec)
    lake.see([{"ref": 1, "rent": 10, "note": "a"}], day("2026-01-01"))
    assert lake.see([{"ref": 1, "rent": 10, "note": "b"}], day("2026-02-01")).versions == 0
    assert lake.see([{"ref": 1, "rent": None, "note": "b"}], day("2026-03-01")).versions == 1
    assert lake.see([{"ref": 1, "rent": None, "note": "c"}], day("2026-04-01")).versions == 0
    with pytest.raises(HistoryError, match="track lists rent"):
        lake.see([{"ref": 1, "note": "c"}], day("2026-05-01"))


# -- finding 4: revivals -------------------------------------------------------------
def test_a_revived_record_comes_back_whatever_its_version_says(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p", SYNCED)
    lake.see(accounts(3, day("2026-01-01")), day("2026-01-02"), full=True)
    lake.see(accounts(3, day("2026-01-01"))[:2], day("2026-02-01"), full=True)  # 2 deleted
    lake.see(accounts(3, day("2026-01-01"))[:2], day("2026-02-02"), full=True)  # still gone
    assert set(lake.state("tenancies", "rent")) == {0, 1}
    # restored from a backup: the same row, the same (old) updated_at
    result = lake.see(accounts(3, day("2026-01-01")), day("2026-03-01"), full=True)
    assert result.versions == 1
    assert lake.state("tenancies", "rent") == {0: (100,), 1: (101,), 2: (102,)}
    assert 2 not in lake.state("tenancies_as_of(DATE '2026-02-15')", "rent")
    periods = lake.rows(
        "SELECT valid_from, valid_to FROM housing_raw.tenancies__history WHERE ref = 2 "
        "ORDER BY valid_from"
    )
    assert [(p["valid_from"], p["valid_to"]) for p in periods] == [
        (day("2026-01-01"), day("2026-02-01")),
        (day("2026-03-01"), None),
    ]


# -- finding 5: delete modes, tombstones with values, as-of by timestamp --------------
@pytest.mark.parametrize("mode", ["invalidate", "new_record", "ignore"])
def test_the_three_delete_modes_mean_what_dbt_means(tmp_path: Path, mode: str) -> None:
    spec = HistorySpec(key=("ref",), version=None, mode="observed", deletes=mode)  # type: ignore[arg-type]
    lake = Lake(tmp_path / "p", spec)
    lake.see([{"ref": 1, "rent": 10}, {"ref": 2, "rent": 20}], day("2026-01-01"), full=True)
    lake.see([{"ref": 1, "rent": 10}], day("2026-02-01"), full=True)
    latest = set(lake.state("tenancies", "rent"))
    history = lake.rows(
        "SELECT * FROM housing_raw.tenancies__history WHERE ref = 2 ORDER BY valid_from"
    )
    if mode == "ignore":
        assert latest == {1, 2}
        assert [h["valid_to"] for h in history] == [None]
        return
    assert latest == {1}
    assert history[0]["valid_to"] == day("2026-02-01")
    if mode == "invalidate":
        assert len(history) == 1 and "is_deleted" not in history[0]
    else:  # the delete is a row, carrying the last values
        assert [(h["rent"], h["is_deleted"], h["valid_from"]) for h in history] == [
            (20, False, day("2026-01-01")),
            (20, True, day("2026-02-01")),
        ]


def test_as_of_takes_a_timestamp_and_a_date(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p", EXPORTS)
    lake.see([{"ref": 1, "rent": 10}], day("2026-03-01 10:00"))
    lake.see([{"ref": 1, "rent": 11}], day("2026-03-01 16:00"))
    at = lake.state
    assert at("tenancies_as_of(TIMESTAMP '2026-03-01 09:59')", "rent") == {}
    assert at("tenancies_as_of(TIMESTAMP '2026-03-01 10:00')", "rent") == {1: (10,)}
    assert at("tenancies_as_of(TIMESTAMP '2026-03-01 15:59:59')", "rent") == {1: (10,)}
    assert at("tenancies_as_of(TIMESTAMP '2026-03-01 16:00')", "rent") == {1: (11,)}
    assert at("tenancies_as_of(DATE '2026-03-01')", "rent") == {1: (11,)}
    assert at("tenancies_as_of('2026-03-01')", "rent") == {1: (11,)}
    assert at("tenancies_as_of(DATE '2026-02-28')", "rent") == {}


# -- recorded time --------------------------------------------------------------------
def test_as_known_answers_what_latest_showed_and_never_changes(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p", EXPORTS)
    lake.see([{"ref": 1, "rent": 10}, {"ref": 2, "rent": 20}], day("2026-01-01"), full=True)
    seen = lake.state("tenancies", "rent")
    moment = datetime.now(UTC)
    time.sleep(0.002)
    # a late correction dated in the past: as-of the past changes, as-known does not
    lake.see([{"ref": 1, "rent": 15}], day("2026-01-01 12:00"), compare_at=day("2026-01-01 12:00"))
    lake.see([{"ref": 2, "rent": 25}], day("2026-02-01"), full=True)
    assert lake.state("tenancies_as_of(DATE '2026-01-01')", "rent") == {1: (15,), 2: (20,)}
    when = moment.replace(tzinfo=None).isoformat(sep=" ")
    assert lake.state(f"tenancies_as_known(TIMESTAMP '{when}')", "rent") == seen
    compact(lake.project.catalog, REF)  # (or already compacted by the last apply)
    table = open_history(lake.project.tables, lake.project.catalog.uri(REF))
    assert table is not None and not table.recent
    assert lake.state(f"tenancies_as_known(TIMESTAMP '{when}')", "rent") == seen
    recorded = lake.rows(
        "SELECT ref, rent, recorded_from, recorded_to FROM housing_raw.tenancies__history "
        "ORDER BY ref, valid_from"
    )
    first = recorded[0]
    assert first["recorded_from"] < moment < first["recorded_to"]


# -- spreadsheets: full exports with an effective time, arriving in any order ------------
def test_a_late_export_slots_into_its_place_without_rewriting_later_months(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "p", EXPORTS)
    jan, feb, mar = day("2026-01-01"), day("2026-02-01"), day("2026-03-01")
    lake.see(
        [{"ref": 1, "rent": 10}, {"ref": 2, "rent": 20}, {"ref": 3, "rent": 30}],
        jan,
        full=True,
        compare_at=jan,
    )
    lake.see(
        [{"ref": 1, "rent": 11}, {"ref": 2, "rent": 20}, {"ref": 3, "rent": 30}],
        mar,
        full=True,
        compare_at=mar,
    )
    march = lake.state("tenancies_as_of(DATE '2026-03-31')", "rent")
    # February arrives last: 2 missing that month, 3 changed, a new tenancy 4
    feb_rows = [{"ref": 1, "rent": 10}, {"ref": 3, "rent": 33}, {"ref": 4, "rent": 40}]
    lake.see(feb_rows, feb, full=True, compare_at=feb, reassert_at=mar)
    assert lake.state("tenancies_as_of(DATE '2026-02-15')", "rent") == {
        1: (10,),
        3: (33,),
        4: (40,),
    }
    assert lake.state("tenancies_as_of(DATE '2026-03-31')", "rent") == march
    assert lake.state("tenancies", "rent") == march
    # the same February file again changes nothing
    again = lake.see(feb_rows, feb, full=True, compare_at=feb, reassert_at=mar)
    assert again.versions == 0


def test_a_key_repeated_in_one_export_keeps_the_last_row_and_rejects_the_rest(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "p", EXPORTS)
    result = lake.see(
        [{"ref": 1, "rent": 10}, {"ref": 1, "rent": 12}, {"ref": 2, "rent": 20}],
        day("2026-01-01"),
        full=True,
    )
    assert result.rejected == 1
    assert lake.state("tenancies", "rent") == {1: (12,), 2: (20,)}
    session = lake.project.engine().session()
    try:
        reject = DatasetRef("housing", "raw", "tenancies__rejected")
        session.register([reject])
        sql = "SELECT rent, _reject_reason FROM housing_raw.tenancies__rejected"
        [row] = session.sql(sql).read_all().to_pylist()
    finally:
        session.close()
    assert row["rent"] == 10 and "appears again later" in row["_reject_reason"]


def test_a_key_given_three_times_and_missing_keys_are_each_rejected_once(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "p", EXPORTS)
    rows = [{"ref": 1, "rent": r} for r in (10, 11, 12)]
    rows += [{"ref": None, "rent": 5}, {"ref": None, "rent": 6}, {"ref": 2, "rent": 20}]
    result = lake.see(rows, day("2026-01-01"), full=True)
    assert result.rejected == 4
    assert lake.state("tenancies", "rent") == {1: (12,), 2: (20,)}
    session = lake.project.engine().session()
    try:
        session.register([DatasetRef("housing", "raw", "tenancies__rejected")])
        sql = "SELECT rent, _reject_reason FROM housing_raw.tenancies__rejected ORDER BY rent"
        reasons = session.sql(sql).read_all().to_pylist()
    finally:
        session.close()
    assert [r["rent"] for r in reasons] == [5, 6, 10, 11]
    assert all("ref is missing" in r["_reject_reason"] for r in reasons[:2])
    assert all("appears again later" in r["_reject_reason"] for r in reasons[2:])


# -- the property: any order of exports equals the naive answers, by both times ----------
@st.composite
def export_sequences(draw: st.DrawFn) -> list[tuple[int, dict[int, int]]]:
    """(month, {ref: rent}) exports in arrival order: months out of order, re-sends."""
    months = draw(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=7))
    out = []
    for month in months:
        state = draw(st.dictionaries(st.integers(1, 5), st.integers(0, 2), max_size=5))
        out.append((month, state))
    return out


def naive_as_of(arrived: list[tuple[int, dict[int, int]]], month: int) -> dict[int, int]:
    """The newest export (by month, then arrival) at or before ``month``."""
    best: tuple[int, int] | None = None
    for order, (m, _) in enumerate(arrived):
        if m <= month and (best is None or (m, order) >= best):
            best = (m, order)
    return {} if best is None else dict(arrived[best[1]][1])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(exports=export_sequences(), ratio=st.sampled_from([0.0, 1000.0]))
def test_any_order_of_exports_equals_the_naive_answers(
    tmp_path_factory: pytest.TempPathFactory,
    exports: list[tuple[int, dict[int, int]]],
    ratio: float,
) -> None:
    spec = HistorySpec(key=("ref",), version=None, mode="observed", compact_ratio=ratio)
    lake = Lake(tmp_path_factory.mktemp("exports") / "p", spec)
    base = day("2026-01-01")
    applied: list[int] = []
    moments: list[tuple[str, dict[int, int]]] = []
    for number, (month, state) in enumerate(exports):
        at = base + timedelta(days=31 * month)
        later = sorted(m for m in applied if m > month)
        reassert = base + timedelta(days=31 * later[0]) if later else None
        rows = [{"ref": r, "rent": v} for r, v in sorted(state.items())]
        lake.see(rows, at, full=True, compare_at=at, reassert_at=reassert)
        again = lake.see(rows, at, full=True, compare_at=at, reassert_at=reassert)
        assert again.versions == 0  # a re-sent export changes nothing
        applied.append(month)
        arrived = exports[: number + 1]
        latest_month = max(m for m, _ in arrived)
        expected_latest = naive_as_of(arrived, latest_month)
        assert _plain(lake.state("tenancies", "rent")) == expected_latest
        moments.append((datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "), expected_latest))
        time.sleep(0.001)
    for month in range(6):
        when = (base + timedelta(days=31 * month)).date()
        got = _plain(lake.state(f"tenancies_as_of(DATE '{when}')", "rent"))
        assert got == naive_as_of(exports, month), month
    for when, expected in moments:
        assert _plain(lake.state(f"tenancies_as_known(TIMESTAMP '{when}')", "rent")) == expected


def _plain(state: dict[int, tuple[Any, ...]]) -> dict[int, int]:
    return {k: v[0] for k, v in state.items()}
