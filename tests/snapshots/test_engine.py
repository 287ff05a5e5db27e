"""The history engine: latest, history and as-of equal a naive recomputation."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civiclake import Project, init_project
from civiclake.snapshots import HistoryError, HistorySpec, apply_increment, compact, open_history
from civiclake.storage import DatasetRef

DAY0 = date(2026, 3, 1)
REF = DatasetRef("planning", "refined", "apps")
SPEC = HistorySpec(key=("id",), version="last_updated", deleted="ceased")

Record = tuple[int, int, datetime, bool]
"""(id, value, last_updated, ceased)"""


def make_project(root: Path) -> Project:
    init_project(root, departments=["planning"])
    return Project.load(root)


def table(records: list[Record]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([r[0] for r in records], pa.int64()),
            "value": pa.array([r[1] for r in records], pa.int64()),
            "last_updated": pa.array([r[2] for r in records], pa.timestamp("us")),
            "ceased": pa.array([r[3] for r in records], pa.bool_()),
        }
    )


def rows(project: Project, sql: str) -> list[dict[str, Any]]:
    session = project.engine().session()
    try:
        session.register([REF])
        return session.sql(sql).read_all().to_pylist()
    finally:
        session.close()


def engine_latest(project: Project) -> set[tuple[int, int, datetime]]:
    found = rows(project, "SELECT id, value, last_updated FROM planning_refined.apps")
    return {(r["id"], r["value"], r["last_updated"]) for r in found}


def engine_as_of(project: Project, day: date) -> set[tuple[int, int, datetime]]:
    found = rows(
        project,
        f"SELECT id, value, last_updated FROM planning_refined.apps_as_of(DATE '{day}')",
    )
    return {(r["id"], r["value"], r["last_updated"]) for r in found}


def naive(delivered: list[Record], until: datetime | None = None) -> set[tuple[int, int, datetime]]:
    """A full snapshot: per id the newest (last_updated, import order) record, ceased removed."""
    seen: set[Record] = set()
    best: dict[int, tuple[datetime, int, Record]] = {}
    for order, record in enumerate(delivered):
        if record in seen:
            continue  # a re-delivery of a version already held
        seen.add(record)
        if until is not None and record[2] >= until:
            continue
        current = best.get(record[0])
        if current is None or (record[2], order) >= (current[0], current[1]):
            best[record[0]] = (record[2], order, record)
    return {(r[0], r[1], r[2]) for _, _, r in best.values() if not r[3]}


def test_latest_history_and_as_of(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    t = datetime(2026, 3, 1, 10)
    first = apply_increment(
        project.catalog,
        REF,
        table([(1, 10, t, False), (2, 20, t, False), (3, 30, t, False)]),
        SPEC,
        app_id="day1",
        import_id="i1",
        producer="test",
    )
    assert first.versions == 3
    later = t + timedelta(days=1)
    second = apply_increment(
        project.catalog,
        REF,
        table(
            [
                (1, 11, later, False),
                (1, 12, later + timedelta(hours=1), False),  # two versions in one increment
                (2, 20, later, True),  # ceased: a delete
                (3, 30, t, False),  # a re-delivery
            ]
        ),
        SPEC,
        app_id="day2",
        import_id="i2",
        producer="test",
    )
    assert (second.versions, second.duplicates, second.deletes) == (3, 1, 1)
    assert engine_latest(project) == {(1, 12, later + timedelta(hours=1)), (3, 30, t)}
    assert engine_as_of(project, DAY0) == {(1, 10, t), (2, 20, t), (3, 30, t)}
    history = rows(
        project,
        "SELECT id, value, valid_from, valid_to FROM planning_refined.apps__history "
        "WHERE id = 1 ORDER BY valid_from",
    )
    assert [(r["value"], r["valid_to"]) for r in history] == [
        (10, later),
        (11, later + timedelta(hours=1)),
        (12, None),
    ]
    datasets = {d["qualified_name"]: d for d in project.store.datasets()}
    assert datasets["planning_refined.apps"]["key"] == ["id"]
    assert "valid_to" in {c["name"] for c in datasets["planning_refined.apps__history"]["columns"]}


def test_same_batch_twice_is_applied_once(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    t = datetime(2026, 3, 1, 10)
    data = table([(1, 10, t, False)])
    apply_increment(project.catalog, REF, data, SPEC, app_id="b1", import_id="i", producer="test")
    again = apply_increment(
        project.catalog, REF, data, SPEC, app_id="b1", import_id="i", producer="test"
    )
    assert again.already_applied
    assert len(rows(project, "SELECT * FROM planning_refined.apps__history")) == 1


def test_rows_without_key_go_to_rejected(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    data = pa.table(
        {
            "id": pa.array([1, None], pa.int64()),
            "last_updated": pa.array([datetime(2026, 3, 1), datetime(2026, 3, 1)]),
        }
    )
    result = apply_increment(
        project.catalog,
        REF,
        data,
        SPEC.__class__(key=("id",), version="last_updated"),
        app_id="b",
        import_id="i",
        producer="test",
    )
    assert (result.versions, result.rejected) == (1, 1)
    uri = project.layout.table_uri(REF.sibling("apps__rejected"))
    rejected = project.tables.read(uri).to_pylist()
    assert "id is missing" in rejected[0]["_reject_reason"]


def test_a_missing_key_column_is_a_clear_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    with pytest.raises(HistoryError, match="no column 'id'"):
        apply_increment(
            project.catalog,
            REF,
            pa.table({"ref": [1], "last_updated": [datetime(2026, 3, 1)]}),
            SPEC,
            app_id="b",
            import_id="i",
            producer="test",
        )


def test_new_column_and_widened_type(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    t = datetime(2026, 3, 1)
    apply_increment(
        project.catalog,
        REF,
        table([(1, 10, t, False)]),
        SPEC,
        app_id="a",
        import_id="i",
        producer="test",
    )
    wider = pa.table(
        {
            "id": pa.array([2], pa.int64()),
            "value": pa.array([2.5], pa.float64()),
            "last_updated": pa.array([t + timedelta(days=1)], pa.timestamp("us")),
            "ceased": [False],
            "climate": ["yes"],
        }
    )
    result = apply_increment(
        project.catalog, REF, wider, SPEC, app_id="b", import_id="i", producer="test"
    )
    assert any("widened" in n for n in result.notes)
    found = rows(project, "SELECT id, value, climate FROM planning_refined.apps ORDER BY id")
    assert found == [
        {"id": 1, "value": 10.0, "climate": None},
        {"id": 2, "value": 2.5, "climate": "yes"},
    ]
    changes = project.store.schema_changes("planning_refined.apps")
    assert {(c["change"], c["column_name"]) for c in changes} == {
        ("widened", "value"),
        ("added", "climate"),
    }


def test_compaction_keeps_every_version_and_frees_space(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    spec = HistorySpec(key=("id",), version="last_updated", deleted="ceased", compact_ratio=100)
    t = datetime(2026, 3, 1)
    apply_increment(
        project.catalog,
        REF,
        table([(i, 0, t, False) for i in range(100)]),
        spec,
        app_id="a",
        import_id="i",
        producer="test",
    )
    for day in range(1, 4):
        updates = [(i, day, t + timedelta(days=day), False) for i in range(day * 10)]
        apply_increment(
            project.catalog,
            REF,
            table(updates),
            spec,
            app_id=f"d{day}",
            import_id="i",
            producer="test",
        )
    uri = project.layout.table_uri(REF)
    before = open_history(project.tables, uri)
    assert before is not None and len(before.recent) == 3
    expected_latest = engine_latest(project)
    expected_as_of = engine_as_of(project, DAY0 + timedelta(days=1))
    assert compact(project.catalog, REF)
    after = open_history(project.tables, uri)
    assert after is not None and not after.recent and after.base_rows == 100
    assert engine_latest(project) == expected_latest
    assert engine_as_of(project, DAY0 + timedelta(days=1)) == expected_as_of
    assert len(rows(project, "SELECT * FROM planning_refined.apps__history")) == 160
    live = {Path(f.uri).resolve() for f in after.everything}
    kept = {p.resolve() for p in Path(uri).rglob("*.parquet")}
    assert kept > live  # readers of the version before may still read the replaced files
    config = project.config_path
    config.write_text(
        config.read_text().replace(
            "  root: data\n", "  root: data\n  keep_replaced_files_hours: 0\n"
        )
    )
    Project.load(project.dir).tables.vacuum(uri)  # past the retention: they go
    on_disk = {p.resolve() for p in Path(uri).rglob("*.parquet")}
    assert on_disk == live


# -- the property: any sequence of increments equals a naive recomputation ----------
ids = st.integers(min_value=1, max_value=6)


@st.composite
def increments(draw: st.DrawFn) -> list[list[Record]]:
    days = draw(st.integers(min_value=1, max_value=5))
    delivered: list[Record] = []
    result = []
    for day in range(days):
        start = datetime.combine(DAY0 + timedelta(days=day), datetime.min.time())
        batch: list[Record] = []
        for _ in range(draw(st.integers(min_value=0, max_value=6))):
            kind = draw(st.sampled_from(["new", "new", "late", "redeliver"]))
            if kind == "redeliver" and delivered:
                batch.append(draw(st.sampled_from(delivered)))
                continue
            back = draw(st.integers(min_value=1, max_value=3)) if kind == "late" else 0
            hour = draw(st.integers(min_value=0, max_value=3))  # ties happen
            batch.append(
                (
                    draw(ids),
                    draw(st.integers(min_value=0, max_value=3)),
                    start - timedelta(days=back) + timedelta(hours=hour),
                    draw(st.booleans()),
                )
            )
        delivered += batch
        result.append(batch)
    return result


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(days=increments(), ratio=st.sampled_from([0.0, 0.5, 1000.0]))
def test_any_increments_equal_a_naive_recomputation(
    tmp_path_factory: pytest.TempPathFactory, days: list[list[Record]], ratio: float
) -> None:
    project = make_project(tmp_path_factory.mktemp("prop") / "p")
    spec = HistorySpec(key=("id",), version="last_updated", deleted="ceased", compact_ratio=ratio)
    delivered: list[Record] = []
    known: list[tuple[str, set[tuple[int, int, datetime]]]] = []
    for number, batch in enumerate(days):
        for attempt in range(2):  # the second is a re-run of the same day: a no-op
            result = apply_increment(
                project.catalog,
                REF,
                table(batch),
                spec,
                app_id=f"day{number}",
                import_id=f"i{number}",
                producer="test",
            )
            assert result.already_applied == (attempt == 1)
        delivered += batch
        # what latest shows now is what as-known must answer for this moment, for ever
        known.append((datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "), naive(delivered)))
        time.sleep(0.001)
    assert engine_latest(project) == naive(delivered)
    for moment, expected in known:
        found = rows(
            project,
            "SELECT id, value, last_updated FROM "
            f"planning_refined.apps_as_known(TIMESTAMP '{moment}')",
        )
        assert {(r["id"], r["value"], r["last_updated"]) for r in found} == expected, moment
    for offset in range(-3, len(days)):
        day = DAY0 + timedelta(days=offset)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time())
        assert engine_as_of(project, day) == naive(delivered, until=end), day
