"""The CLI as a user drives it: init, departments, templates, run, history, query."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ._support import cli_streams as cli


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def _project_with_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "council"
    assert cli(capsys, "init", str(root), "-d", "housing")[0] == 0
    (root / "sources" / "housing" / "rents.yaml").write_text(
        "type: files\ndataset: rents\npatterns: ['rents_*.csv']\nmin_file_age_seconds: 0\n"
    )
    inbox = root / "data" / "landing" / "housing" / "rents"
    inbox.mkdir(parents=True)
    (inbox / "rents_2026-10.csv").write_text(
        "Tenancy Ref,Ward,Balance (£)\nT1,W1,10.5\nT2,W1,-3\nT3,W2,0\n", encoding="utf-8"
    )
    (root / "jobs" / "housing" / "balance_by_ward.sql").write_text(
        "-- zone: trusted\n-- key: ward\n"
        "SELECT ward, count(*) AS tenancies, sum(balance) AS balance\n"
        "FROM housing_raw.rents GROUP BY ward\n"
    )
    return root


def test_init_creates_the_project_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "init", str(tmp_path / "c"), "-d", "Housing Repairs")
    assert code == 0 and "Created project" in out
    for part in (
        "civiclake.yaml",
        "sources",
        "jobs/housing-repairs",
        "jobs/unrestricted",
        "jobs/sandbox",
        "models",
        "playbook",
        ".gitignore",
    ):
        assert (tmp_path / "c" / part).exists(), part
    code, _, err = cli(capsys, "init", str(tmp_path / "c"))
    assert code == 1 and "already holds a project" in err


def test_department_add_is_one_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "c"
    cli(capsys, "init", str(root))
    code, out, _ = cli(capsys, "department", "add", "Housing Repairs", "-p", str(root))
    assert code == 0 and "housing_repairs_refined" in out
    assert (root / "jobs" / "housing-repairs").is_dir()
    code, out, _ = cli(capsys, "department", "list", "-p", str(root))
    assert "housing-repairs" in out
    code, _, err = cli(capsys, "department", "add", "housing repairs", "-p", str(root))
    assert code == 1 and "already" in err


def test_run_then_history_then_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _project_with_data(tmp_path, capsys)
    code, out, err = cli(capsys, "run", "-p", str(root))
    assert code == 0, out + err
    assert "housing/rents" in out and "housing/balance_by_ward" in out and "success" in out

    code, out, _ = cli(capsys, "runs", "-p", str(root))
    assert code == 0 and "success" in out
    code, out, _ = cli(capsys, "runs", "show", "1", "-p", str(root))
    assert code == 0 and "housing/balance_by_ward" in out and "run-1.log" in out

    sql = "select ward, tenancies, balance from housing_trusted.balance_by_ward order by ward"
    code, out, _ = cli(capsys, "query", sql, "-p", str(root))
    assert code == 0 and "W1" in out and "7.5" in out

    target = tmp_path / "out.csv"
    cli(capsys, "query", sql, "-p", str(root), "--format", "csv", "--output", str(target))
    rows = list(csv.DictReader(target.open()))
    assert [r["ward"] for r in rows] == ["W1", "W2"] and rows[0]["tenancies"] == "2"

    code, out, _ = cli(capsys, "query", sql, "-p", str(root), "--format", "json")
    assert json.loads(out)[1] == {"ward": "W2", "tenancies": 1, "balance": 0.0}

    target = tmp_path / "out.parquet"
    cli(capsys, "query", sql, "-p", str(root), "-f", "parquet", "-o", str(target))
    assert pq.read_table(target).num_rows == 2


def test_query_refuses_statements_that_change_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project_with_data(tmp_path, capsys)
    cli(capsys, "run", "-p", str(root))
    for sql in ("drop table housing_raw.rents", "select 1; select 2", "copy (select 1) to 'x.csv'"):
        code, _, err = cli(capsys, "query", sql, "-p", str(root))
        assert code == 1 and "error:" in err, sql


def test_a_failing_job_fails_the_run_with_its_reason_and_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project_with_data(tmp_path, capsys)
    (root / "jobs" / "housing" / "broken.sql").write_text(
        "SELECT CAST(ward AS INTEGER) AS w FROM housing_raw.rents\n"
    )
    code, out, _ = cli(capsys, "run", "-p", str(root))
    assert code == 1
    assert "housing/broken" in out and "failed" in out and "Could not convert" in out
    assert "run-1.log" in out


def test_unknown_table_is_reported_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project_with_data(tmp_path, capsys)
    (root / "jobs" / "housing" / "typo.sql").write_text("SELECT * FROM housing_raw.rentz\n")
    code, _, err = cli(capsys, "run", "-p", str(root))
    assert code == 1 and "housing_raw.rentz" in err and "housing_raw.rents" in err
    code, out, _ = cli(capsys, "runs", "-p", str(root))
    assert "success" not in out  # nothing ran


def test_new_job_template_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _project_with_data(tmp_path, capsys)
    code, out, _ = cli(capsys, "new", "job", "housing/my_job", "--template", "sql", "-p", str(root))
    assert code == 0 and "jobs/housing/my_job.sql" in out
    code, out, _ = cli(capsys, "new", "job", "housing/py_job", "-t", "python", "-p", str(root))
    assert code == 0
    code, out, err = cli(capsys, "run", "-p", str(root))
    assert code == 0, out + err


def test_query_names_an_unknown_table_and_the_closest_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project_with_data(tmp_path, capsys)
    cli(capsys, "run", "-p", str(root))
    code, _, err = cli(capsys, "query", "select * from housing_raw.rent", "-p", str(root))
    assert code == 1
    assert "unknown table housing_raw.rent" in err and "`housing_raw.rents`" in err


def test_an_empty_project_says_what_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "init", str(tmp_path / "empty"))
    code, out, _ = cli(capsys, "run", "-p", str(tmp_path / "empty"))
    assert code == 0 and "Nothing to run" in out
