"""``civiclake diff <dataset> <t1> <t2>`` and ``run_diff``: counts, a sample, the full
list, column changes — through the same access policy as ``civiclake query``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from civiclake import Project, init_project
from civiclake.access import AccessDenied
from civiclake.engines.exceptions import EngineError
from civiclake.query import run_diff, run_query
from civiclake.snapshots import HistoryError, HistorySpec, apply_increment
from civiclake.storage import DatasetRef

from ._support import cli, cli_streams

REF = DatasetRef("housing", "raw", "rent_accounts")


def export(project: Project, rows: list[dict[str, object]], when: str, n: int) -> None:
    apply_increment(
        project.catalog,
        REF,
        pa.Table.from_pylist(rows),
        HistorySpec(key=("tenancy_ref",), version=None, mode="observed"),
        app_id=f"export-{n}",
        import_id=f"i{n}",
        producer="test",
        observed_at=datetime.fromisoformat(when),
        full=True,
    )


@pytest.fixture
def rents(tmp_path: Path) -> Path:
    """Three monthly exports: February changes two balances, adds T4, drops T3; March
    adds a column ``email``, filled in for T1."""
    root = init_project(tmp_path / "council", departments=["housing"])
    project = Project.load(root)
    january = [
        {"tenancy_ref": "T1", "balance": 100, "flag": "N"},
        {"tenancy_ref": "T2", "balance": 50, "flag": None},
        {"tenancy_ref": "T3", "balance": 0, "flag": "N"},
    ]
    february = [
        {"tenancy_ref": "T1", "balance": 140, "flag": "Y"},
        {"tenancy_ref": "T2", "balance": 60, "flag": None},
        {"tenancy_ref": "T4", "balance": 10, "flag": "N"},
    ]
    march = [dict(r, email="a@b.uk" if r["tenancy_ref"] == "T1" else None) for r in february]
    export(project, january, "2026-01-01", 1)
    export(project, february, "2026-02-01", 2)
    export(project, march, "2026-03-01", 3)
    project.store.close()
    return root


def test_counts_first_then_the_most_changed_columns_then_a_sample(
    rents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(
        capsys, "diff", "housing_raw.rent_accounts", "2026-01-15", "2026-02-15", "-p", str(rents)
    )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "housing_raw.rent_accounts by valid time, 2026-01-15 → 2026-02-15"
    assert lines[1] == "added 1 · removed 1 · changed 2"
    assert lines[2] == "most often changed: balance (2), flag (1)"
    assert "T4" in out and "T3" in out and "changed_columns" in out
    code, out = cli(
        capsys,
        "diff",
        "housing_raw.rent_accounts",
        "2026-01-15",
        "2026-02-15",
        "--limit",
        "1",
        "-p",
        str(rents),
    )
    assert "1 of 4 rows shown" in out


def test_json_and_csv_print_every_key_with_old_and_new_values(
    rents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("diff", "housing_raw.rent_accounts", "2026-01-31", "2026-02-28", "-p", str(rents))
    code, out, _ = cli_streams(capsys, *args, "--format", "json")
    assert code == 0
    rows = {r["tenancy_ref"]: r for r in json.loads(out)}
    assert rows["T1"]["change"] == "changed"
    assert rows["T1"]["changed_columns"] == ["balance", "flag"]
    assert json.loads(rows["T1"]["old_values"]) == {"balance": "100", "flag": "N"}
    assert json.loads(rows["T1"]["new_values"]) == {"balance": "140", "flag": "Y"}
    assert rows["T2"]["changed_columns"] == ["balance"]  # NULL flag stayed NULL
    assert rows["T4"]["change"] == "added" and rows["T4"]["old_values"] is None
    assert rows["T3"]["change"] == "removed" and rows["T3"]["new_values"] is None
    code, out, _ = cli_streams(capsys, *args, "--format", "csv")
    assert out.splitlines()[0] == (
        '"change","tenancy_ref","changed_columns","old_values","new_values"'
    )
    assert len(out.splitlines()) == 5


def test_column_changes_between_the_two_times_are_listed(
    rents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(
        capsys, "diff", "housing_raw.rent_accounts", "2026-02-15", "2026-03-15", "-p", str(rents)
    )
    assert code == 0, out
    assert "added 0 · removed 0 · changed 1" in out
    assert "column added: email" in out
    code, out = cli(
        capsys, "diff", "housing_raw.rent_accounts", "2026-01-15", "2026-02-15", "-p", str(rents)
    )
    assert "column added" not in out


def test_a_dataset_without_history_bad_times_and_unknown_names(
    rents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project.load(rents)
    project.catalog.write(
        project.dataset("housing", "trusted", "wards"),
        pa.table({"id": [1], "ward": ["Hill"]}),
        mode="overwrite",
        producer="test",
    )
    with pytest.raises(
        HistoryError,
        match=r"diff needs a keyed dataset with history, and housing_trusted\.wards has none",
    ):
        run_diff(project, "housing_trusted.wards", "2026-01-01", "2026-02-01")
    with pytest.raises(EngineError, match="t2 'last week' is not a date or a timestamp"):
        run_diff(project, "housing_raw.rent_accounts", "2026-01-01", "last week")
    with pytest.raises(EngineError, match=r"write <department>_<zone>\.<dataset>"):
        run_diff(project, "rent_accounts", "2026-01-01", "2026-02-01")
    project.store.close()
    code, out = cli(
        capsys, "diff", "housing_raw.rent_acounts", "2026-01-01", "2026-02-01", "-p", str(rents)
    )
    assert code != 0 and "did you mean" in out and "housing_raw.rent_accounts" in out


# -- the access policy: the same door as civiclake query ---------------------------------
def test_diff_is_refused_to_a_user_without_the_department(council: Project) -> None:
    with pytest.raises(AccessDenied, match="hana has no role in planning"):
        run_diff(council, "planning_refined.applications", "2026-03-01", "2026-03-02", user="hana")
    with pytest.raises(AccessDenied, match="hana has no role in planning"):
        run_query(
            council,
            "SELECT * FROM planning_refined.applications_diff("
            "DATE '2026-03-01', DATE '2026-03-02')",
            user="hana",
        )


def test_pii_in_a_diff_is_masked_for_those_who_cannot_see_it(council: Project) -> None:
    found = run_diff(
        council, "planning_refined.applications", "2026-03-01", "2026-03-02", user="pat"
    )
    assert found.counts == {"added": 0, "removed": 1, "changed": 1}
    shown = json.dumps(found.rows.to_pylist())
    assert "Di Fox" not in shown and "Ed Gray" not in shown
    changed = found.rows.filter(pa.compute.equal(found.rows["change"], "changed")).to_pylist()
    # the masked values still differ (and the source's version column moved)
    assert changed[0]["changed_columns"] == ["applicant", "last_updated"]
    sql = (
        "SELECT column_name, old_value, new_value FROM "
        "planning_refined.applications_diff('2026-03-01', '2026-03-02') WHERE id = 2"
    )
    long = run_query(council, sql, user="pat").read_all().to_pylist()
    assert [r["column_name"] for r in long] == ["applicant", "last_updated"]
    assert long[0]["old_value"] != "Di Fox" and long[0]["new_value"] != "Di Fox-Hart"
