"""Pruned datasets leave the warehouse too (issue 11), seen with psql as a BI login.

A deleted job's dataset stayed published with its GRANTs: a BI login kept reading it.
`civiclake datasets prune` drops its tables, masked views and published marker in one
transaction (:func:`civiclake.publish.drop_published`), and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from civiclake import Project
from civiclake.cli import main
from civiclake.publish import WarehouseError, drop_published

from .conftest import Warehouse, attach, drop_namespace


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture
def lake(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> Iterator[Warehouse]:
    """Rents from a files source; two trusted jobs, one with PII; published; hana may read."""
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
    jobs = root / "jobs" / "housing"
    (jobs / "balance_by_ward.sql").write_text(
        "-- zone: trusted\n-- key: ward\n"
        "SELECT ward, count(*) AS tenancies, sum(balance) AS balance\n"
        "FROM housing_raw.rents GROUP BY ward\n"
    )
    (jobs / "debtors.sql").write_text(
        "-- zone: trusted\n-- key: tenancy_ref\n-- pii: tenancy_ref\n"
        "SELECT tenancy_ref, balance FROM housing_raw.rents WHERE balance > 0\n"
    )
    found = attach(root, postgres_url)
    try:
        code, out = cli(capsys, "access", "grant", "hana", "-d", "housing", "-p", str(root))
        assert code == 0, out
        code, out = cli(capsys, "run", "--no-progress", "-p", str(root))
        assert code == 0, out
        yield found
    finally:
        found.project.store.close()
        drop_namespace(found)


def _hana(capsys: pytest.CaptureFixture[str], lake: Warehouse) -> str:
    code, out = cli(capsys, "access", "login", "hana", "-p", str(lake.project.dir))
    assert code == 0, out
    found = re.search(r"PGPASSWORD='([^']+)'", out)
    assert found is not None, out
    return found.group(1)


def test_a_deleted_jobs_dataset_is_pruned_from_postgresql_and_a_bi_login_loses_it(
    lake: Warehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    root = lake.project.dir
    password = _hana(capsys, lake)
    masked = "SELECT count(*) FROM housing_trusted_masked.debtors"
    other = "SELECT count(*) FROM housing_trusted.balance_by_ward"
    assert lake.psql("hana", password, masked).stdout.strip() == "1"
    assert lake.psql("hana", password, other).stdout.strip() == "2"

    (root / "jobs" / "housing" / "debtors.sql").unlink()
    code, out = cli(capsys, "datasets", "prune", "-p", str(root))
    assert code == 0, out  # not a terminal: it lists what it would drop, in the warehouse too
    assert "table housing_trusted.debtors" in out and "view housing_trusted_masked.debtors" in out
    assert "published marker" in out
    assert lake.psql("hana", password, masked).returncode == 0

    code, out = cli(capsys, "datasets", "prune", "--yes", "-p", str(root))
    assert code == 0, out
    for sql in (masked, "SELECT count(*) FROM housing_trusted.debtors"):
        done = lake.psql("hana", password, sql)
        assert done.returncode != 0 and "does not exist" in done.stderr, sql
    assert lake.psql("hana", password, other).stdout.strip() == "2"  # nothing else touched
    assert lake.rows("SELECT dataset FROM _civiclake.published ORDER BY 1") == [
        ("housing_trusted.balance_by_ward",)
    ]
    code, out = cli(capsys, "datasets", "-p", str(root))
    assert "housing_trusted.debtors" not in out and "balance_by_ward" in out
    code, out = cli(capsys, "query", "SELECT * FROM housing_trusted.debtors", "-p", str(root))
    assert code == 1
    # the next run publishes the rest as before, and does not bring it back
    code, out = cli(capsys, "run", "--no-progress", "-p", str(root))
    assert code == 0, out
    assert lake.psql("hana", password, masked).returncode != 0


def test_drop_published_is_one_transaction_and_refuses_to_cascade(lake: Warehouse) -> None:
    project = Project.load(lake.project.dir)
    refs = [
        project.dataset("housing", "trusted", "balance_by_ward"),
        project.dataset("housing", "trusted", "debtors"),
    ]
    # something civiclake did not make depends on the second dataset's table
    with psycopg.connect(lake.url, autocommit=True) as conn:
        conn.execute(
            "CREATE VIEW public.my_debtors AS SELECT * FROM housing_trusted_masked.debtors"
        )
    listed = drop_published(project, refs, dry_run=True)
    assert listed["housing_trusted.debtors"][:2] == [
        "view housing_trusted_masked.debtors",
        "table housing_trusted.debtors",
    ]
    try:
        with pytest.raises(WarehouseError, match=r"nothing was dropped.*view my_debtors depends"):
            drop_published(project, refs)
    finally:
        with psycopg.connect(lake.url, autocommit=True) as conn:
            conn.execute("DROP VIEW public.my_debtors")
    tables = lake.rows(
        "SELECT schemaname || '.' || tablename FROM pg_tables "
        "WHERE schemaname LIKE 'housing%' ORDER BY 1"
    )
    assert tables == [("housing_trusted.balance_by_ward",), ("housing_trusted.debtors",)]
    assert len(lake.rows("SELECT dataset FROM _civiclake.published")) == 2
    project.store.close()
