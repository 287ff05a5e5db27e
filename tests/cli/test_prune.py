"""`civiclake datasets prune` (issue 11): a deleted job's or source's data does not linger.

Deleting a job file used to leave its dataset in the catalog, on disk and readable by
everyone granted its department. Prune lists what no current source or job produces,
asks, and drops it; a file that fails to load stops it, so a typo never deletes a table.
The warehouse side is in tests/publish/test_drop.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pytest

from civiclake import Project
from civiclake.cli import commands

from ._support import cli


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def _lake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A files source (with a rejected line) and two trusted jobs, all run once."""
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
        "-- zone: trusted\n-- key: tenancy_ref\n"
        "SELECT tenancy_ref, balance FROM housing_raw.rents WHERE balance > 0\n"
    )
    code, out = cli(capsys, "run", "--no-progress", "-p", str(root))
    assert code == 0, out
    return root


def _catalog(capsys: pytest.CaptureFixture[str], root: Path) -> str:
    code, out = cli(capsys, "datasets", "-p", str(root))
    assert code == 0, out
    return out


def test_without_yes_and_no_terminal_prune_only_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _lake(tmp_path, capsys)
    (root / "jobs" / "housing" / "debtors.sql").unlink()
    code, out = cli(capsys, "datasets", "prune", "-p", str(root))
    assert code == 0, out
    assert "housing_trusted.debtors" in out
    assert "housing/debtors" in out  # the producer that is gone
    assert "data/trusted/housing/debtors" in out
    assert "--yes" in out and "landing" in out
    assert "balance_by_ward" not in out.split("landing")[0].split("would drop")[-1]
    assert (root / "data" / "trusted" / "housing" / "debtors").is_dir()
    assert "housing_trusted.debtors" in _catalog(capsys, root)


def test_deleting_a_job_then_pruning_removes_its_dataset_and_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _lake(tmp_path, capsys)
    (root / "jobs" / "housing" / "debtors.sql").unlink()
    code, out = cli(capsys, "datasets", "prune", "--yes", "-p", str(root))
    assert code == 0, out
    assert "Dropped housing_trusted.debtors" in out
    assert not (root / "data" / "trusted" / "housing" / "debtors").exists()
    listed = _catalog(capsys, root)
    assert "housing_trusted.debtors" not in listed
    assert "housing_trusted.balance_by_ward" in listed and "housing_raw.rents" in listed
    code, out = cli(capsys, "query", "SELECT * FROM housing_trusted.debtors", "-p", str(root))
    assert code == 1 and "debtors" in out
    sql = "SELECT count(*) AS n FROM housing_trusted.balance_by_ward"
    code, out = cli(capsys, "query", sql, "-p", str(root))
    assert code == 0 and "2" in out
    # the originals stay in landing, and the next run is untouched by the prune
    assert any((root / "data" / "landing").rglob("rents_2026-10.csv"))
    code, out = cli(capsys, "datasets", "prune", "--yes", "-p", str(root))
    assert code == 0 and "Nothing to prune" in out


def test_deleting_a_source_prunes_its_raw_dataset_with_its_rejected_companion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _lake(tmp_path, capsys)
    inbox = root / "data" / "landing" / "housing" / "rents"
    project = Project.load(root)  # the lines a load rejected, as the files source writes them
    project.catalog.write(
        project.dataset("housing", "raw", "rents__rejected"),
        pa.table({"line": ["T1,W1,not-a-number"], "_reject_reason": ["Balance: not a number"]}),
        mode="append",
        producer="housing/rents",
    )
    project.store.close()
    listed = _catalog(capsys, root)
    assert "housing_raw.rents__rejected" in listed
    for path in (root / "jobs" / "housing").glob("*.sql"):
        path.unlink()
    (root / "sources" / "housing" / "rents.yaml").unlink()
    code, out = cli(capsys, "datasets", "prune", "--yes", "-p", str(root))
    assert code == 0, out
    listed = _catalog(capsys, root)
    for name in ("rents", "rents__rejected", "balance_by_ward", "debtors"):
        assert f".{name} " not in listed and f".{name}\n" not in listed, name
    assert not (root / "data" / "raw" / "housing" / "rents").exists()
    assert not (root / "data" / "raw" / "housing" / "rents__rejected").exists()
    assert any(inbox.parent.rglob("rents_2026-10.csv")), "landing must never be pruned"


def test_a_job_file_that_fails_to_load_blocks_the_prune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _lake(tmp_path, capsys)
    (root / "jobs" / "housing" / "debtors.sql").unlink()
    (root / "jobs" / "housing" / "balance_by_ward.sql").write_text(
        "-- zone: trustd\nSELECT ward FROM housing_raw.rents\n"
    )
    code, out = cli(capsys, "datasets", "prune", "--yes", "-p", str(root))
    assert code == 1
    assert "balance_by_ward.sql" in out and "nothing was pruned" in out.lower()
    assert (root / "data" / "trusted" / "housing" / "debtors").is_dir()
    assert "housing_trusted.debtors" in _catalog(capsys, root)


def test_a_dataset_a_current_job_still_reads_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _lake(tmp_path, capsys)
    (root / "sources" / "housing" / "rents.yaml").unlink()
    code, out = cli(capsys, "datasets", "prune", "--yes", "-p", str(root))
    assert code == 0, out
    assert "housing_raw.rents" in out and "kept" in out and "housing/debtors" in out
    assert "housing_raw.rents" in _catalog(capsys, root)


def test_at_a_terminal_prune_asks_and_no_keeps_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _lake(tmp_path, capsys)
    (root / "jobs" / "housing" / "debtors.sql").unlink()
    monkeypatch.setattr(commands, "_interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out = cli(capsys, "datasets", "prune", "-p", str(root))
    assert code == 1 and "Drop" in out and "nothing was pruned" in out.lower()
    assert "housing_trusted.debtors" in _catalog(capsys, root)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out = cli(capsys, "datasets", "prune", "-p", str(root))
    assert code == 0 and "Dropped housing_trusted.debtors" in out
