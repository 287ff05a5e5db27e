"""``x_diff(t1, t2)``: what changed in a keyed dataset between two times, key by key.

Issue 15 (§4, "what changed"): rows added, removed and changed with the changed columns,
by valid time (``x_as_of``) or, with ``known := true``, by what ``x`` showed
(``x_as_known``). The property test checks the diff of any two months against a naive
comparison of the two as-of snapshots.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civiclake import Project, init_project
from civiclake.snapshots import HistorySpec, apply_increment
from civiclake.storage import DatasetRef

REF = DatasetRef("housing", "raw", "tenancies")
EXPORTS = HistorySpec(key=("ref",), version=None, mode="observed")
Change = tuple[str, int, str, str | None, str | None]


class Lake:
    """One project whose dataset receives full exports at chosen times."""

    def __init__(self, root: Path, spec: HistorySpec = EXPORTS) -> None:
        init_project(root, departments=["housing"])
        self.project = Project.load(root)
        self.spec = spec
        self.applied = 0

    def export(self, rows: list[dict[str, Any]], at: datetime, **options: Any) -> None:
        self.applied += 1
        schema = pa.schema([("ref", pa.int64()), ("rent", pa.int64()), ("note", pa.string())])
        names = list(dict.fromkeys(n for r in rows for n in r)) or schema.names
        fields = [schema.field(n) if n in schema.names else pa.field(n, pa.string()) for n in names]
        table = pa.Table.from_pylist(rows, schema=pa.schema(fields))
        options.setdefault("full", True)
        apply_increment(
            self.project.catalog,
            REF,
            table,
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

    def diff(self, t1: str, t2: str, known: bool = False) -> set[Change]:
        flag = ", known := true" if known else ""
        found = self.rows(f"SELECT * FROM housing_raw.tenancies_diff({t1}, {t2}{flag})")
        return {
            (r["change"], r["ref"], r["column_name"], r["old_value"], r["new_value"]) for r in found
        }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_adds_removes_and_changes_with_the_changed_columns(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p")
    lake.export(
        [
            {"ref": 1, "rent": 100, "note": None},
            {"ref": 2, "rent": 200, "note": "ok"},
            {"ref": 3, "rent": 300, "note": None},
            {"ref": 4, "rent": 400, "note": "x"},
        ],
        at("2026-01-01"),
    )
    lake.export(
        [
            {"ref": 1, "rent": 100, "note": "arrears"},  # NULL → value
            {"ref": 2, "rent": 210, "note": None},  # two columns, one to NULL
            {"ref": 3, "rent": 300, "note": None},  # NULL stays NULL: no change
            {"ref": 5, "rent": 500, "note": None},  # new; 4 is gone
        ],
        at("2026-02-01"),
    )
    assert lake.diff("DATE '2026-01-01'", "DATE '2026-02-01'") == {
        ("changed", 1, "note", None, "arrears"),
        ("changed", 2, "rent", "200", "210"),
        ("changed", 2, "note", "ok", None),
        ("added", 5, "rent", None, "500"),
        ("added", 5, "note", None, None),
        ("removed", 4, "rent", "400", None),
        ("removed", 4, "note", "x", None),
    }
    assert lake.diff("DATE '2026-01-15'", "DATE '2026-01-20'") == set()
    # the other way round: the same changes, turned around
    back = lake.diff("'2026-02-01'", "'2026-01-01'")
    assert ("added", 4, "rent", None, "400") in back
    assert ("changed", 2, "rent", "210", "200") in back


def test_a_key_deleted_and_revived(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p")
    lake.export([{"ref": 1, "rent": 100}, {"ref": 2, "rent": 200}], at("2026-01-01"))
    lake.export([{"ref": 1, "rent": 100}], at("2026-02-01"))
    lake.export([{"ref": 1, "rent": 100}, {"ref": 2, "rent": 250}], at("2026-03-01"))
    assert lake.diff("'2026-01-01'", "'2026-02-01'") == {("removed", 2, "rent", "200", None)}
    assert lake.diff("'2026-02-01'", "'2026-03-01'") == {("added", 2, "rent", None, "250")}
    # across the gap it is one change, the delete in between notwithstanding
    assert lake.diff("'2026-01-01'", "'2026-03-01'") == {("changed", 2, "rent", "200", "250")}


def test_a_date_means_the_end_of_that_day_a_timestamp_that_instant(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p")
    lake.export([{"ref": 1, "rent": 100}], at("2026-02-20"))
    lake.export([{"ref": 1, "rent": 120}], at("2026-03-01 16:00"))
    changed = {("changed", 1, "rent", "100", "120")}
    assert lake.diff("DATE '2026-02-28'", "DATE '2026-03-01'") == changed
    assert lake.diff("'2026-02-28'", "'2026-03-01'") == changed
    assert lake.diff("TIMESTAMP '2026-03-01 12:00'", "TIMESTAMP '2026-03-01 16:00'") == changed
    assert lake.diff("TIMESTAMP '2026-03-01 12:00'", "TIMESTAMP '2026-03-01 15:59'") == set()
    assert lake.diff("TIMESTAMP '2026-03-01 16:00'", "DATE '2026-03-01'") == set()


def test_known_compares_what_was_shown_and_valid_time_follows_a_late_correction(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "p")
    lake.export([{"ref": 1, "rent": 100}, {"ref": 2, "rent": 200}], at("2026-01-01"))
    lake.export([{"ref": 1, "rent": 100}, {"ref": 2, "rent": 220}], at("2026-02-01"))
    # a correction dated 15 January, arriving after February's export
    lake.export(
        [{"ref": 1, "rent": 150}],
        at("2026-01-15"),
        full=False,
        compare_at=at("2026-01-15"),
        reassert_at=at("2026-02-01"),
    )
    recorded = lake.rows(
        "SELECT _import_id AS import, min(recorded_from) AS t "
        "FROM housing_raw.tenancies__history GROUP BY 1 ORDER BY 1"
    )
    first, february, correction = (r["t"].replace(tzinfo=None) for r in recorded)
    # by valid time the correction shows in January…
    assert lake.diff("'2026-01-10'", "'2026-01-20'") == {("changed", 1, "rent", "100", "150")}
    # …but what the table showed did not change: February's values outrank it
    just_before = (correction - timedelta(microseconds=1)).isoformat(sep=" ")
    assert lake.diff(f"TIMESTAMP '{just_before}'", f"TIMESTAMP '{correction}'", True) == set()
    before_feb = (february - timedelta(microseconds=1)).isoformat(sep=" ")
    assert lake.diff(f"TIMESTAMP '{before_feb}'", f"TIMESTAMP '{february}'", True) == {
        ("changed", 2, "rent", "200", "220")
    }
    assert lake.diff(f"TIMESTAMP '{first}'", f"TIMESTAMP '{correction}'", True) == {
        ("changed", 2, "rent", "200", "220")
    }


def test_a_dataset_of_keys_only_still_shows_adds_and_removes(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "p")
    lake.export([{"ref": 1}, {"ref": 2}], at("2026-01-01"))
    lake.export([{"ref": 2}, {"ref": 3}], at("2026-02-01"))
    assert lake.diff("'2026-01-01'", "'2026-02-01'") == {
        ("added", 3, None, None, None),
        ("removed", 1, None, None, None),
    }


# -- the property: diff = a naive comparison of two as-of snapshots -----------------------
@st.composite
def export_sequences(draw: st.DrawFn) -> list[tuple[int, dict[int, int | None]]]:
    months = draw(st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=6))
    rents = st.one_of(st.none(), st.integers(0, 2))
    return [(m, draw(st.dictionaries(st.integers(1, 5), rents, max_size=5))) for m in months]


def naive_as_of(arrived: list[tuple[int, dict[int, int | None]]], month: int) -> dict[int, Any]:
    """The newest export (by month, then arrival) at or before ``month``."""
    best: tuple[int, int] | None = None
    for order, (m, _) in enumerate(arrived):
        if m <= month and (best is None or (m, order) >= best):
            best = (m, order)
    return {} if best is None else dict(arrived[best[1]][1])


def naive_diff(before: dict[int, Any], after: dict[int, Any]) -> set[Change]:
    text = lambda v: None if v is None else str(v)  # noqa: E731
    out: set[Change] = set()
    for key in before.keys() | after.keys():
        if key not in before:
            out |= {
                ("added", key, "rent", None, text(after[key])),
                ("added", key, "note", None, None),
            }
        elif key not in after:
            out |= {
                ("removed", key, "rent", text(before[key]), None),
                ("removed", key, "note", None, None),
            }
        elif before[key] != after[key]:
            out.add(("changed", key, "rent", text(before[key]), text(after[key])))
    return out


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(exports=export_sequences(), ratio=st.sampled_from([0.0, 1000.0]))
def test_the_diff_of_any_two_months_equals_a_naive_comparison(
    tmp_path_factory: pytest.TempPathFactory,
    exports: list[tuple[int, dict[int, int | None]]],
    ratio: float,
) -> None:
    spec = HistorySpec(key=("ref",), version=None, mode="observed", compact_ratio=ratio)
    lake = Lake(tmp_path_factory.mktemp("diff") / "p", spec)
    base = at("2026-01-01")
    applied: list[int] = []
    for month, state in exports:
        when = base + timedelta(days=31 * month)
        later = sorted(m for m in applied if m > month)
        reassert = base + timedelta(days=31 * later[0]) if later else None
        rows = [{"ref": r, "rent": v, "note": None} for r, v in sorted(state.items())]
        lake.export(rows, when, compare_at=when, reassert_at=reassert)
        applied.append(month)
    days = [(base + timedelta(days=31 * m)).date() for m in range(5)]
    for i, first in enumerate(days):
        for second in days[i + 1 :]:
            got = lake.diff(f"DATE '{first}'", f"DATE '{second}'")
            expected = naive_diff(naive_as_of(exports, i), naive_as_of(exports, days.index(second)))
            assert got == expected, (first, second)
