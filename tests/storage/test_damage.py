"""Damage to a Delta table is named (the piece, the file), never passed on as driver text."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from civiclake.storage import TableStore
from civiclake.storage.damage import commit_file, inspect_log, missing_files
from civiclake.storage.exceptions import TableDamagedError


@pytest.fixture
def table(tmp_path: Path) -> str:
    """A local table with versions 0–4."""
    store = TableStore()
    uri = str(tmp_path / "t")
    for n in range(5):
        store.write(uri, pa.table({"id": [n]}), mode="append")
    return uri


def test_a_whole_table_has_no_damage(table: str) -> None:
    assert inspect_log(table) == []
    assert TableStore().describe(table).rows == 5


def test_a_gap_in_the_commits_names_the_missing_commit(table: str) -> None:
    Path(commit_file(table, 2)).unlink()
    [damage] = inspect_log(table)
    assert damage.kind == "missing-commit"
    assert damage.file == commit_file(table, 2)
    with pytest.raises(TableDamagedError) as caught:
        TableStore().open(table)
    text = str(caught.value)
    assert "commit 2 is missing" in text and commit_file(table, 2) in text
    assert "Kernel" not in text and "backtrace" not in text.lower()
    assert "`civiclake doctor`" in text  # without an advisor, the way to the repair


@pytest.mark.parametrize("content", [b"", b"garbage\n", b'{"add": {"path": "part-'])
def test_an_unreadable_latest_commit_is_named(table: str, content: bytes) -> None:
    Path(commit_file(table, 4)).write_bytes(content)
    [damage] = inspect_log(table)
    assert (damage.kind, damage.file) == ("corrupt-commit", commit_file(table, 4))
    with pytest.raises(TableDamagedError, match="commit file"):
        TableStore().describe(table)


def test_a_missing_data_file_is_named_before_a_reader_trips_on_it(table: str) -> None:
    store = TableStore()
    victim = store.scan_files(table).uris[0]
    Path(victim).unlink()
    assert [d.file for d in missing_files(list(store.open(table).file_uris()))] == [victim]
    with pytest.raises(TableDamagedError, match="a data file the table reads is missing"):
        store.read(table)


def test_the_advisor_names_the_dataset_and_its_repair(table: str) -> None:
    store = TableStore()
    store.advisor = lambda uri: ("housing_raw.t", "`civiclake files reprocess housing_raw.t`")
    Path(commit_file(table, 1)).unlink()
    with pytest.raises(TableDamagedError) as caught:
        store.open(table)
    assert str(caught.value).startswith("housing_raw.t is damaged")
    assert str(caught.value).endswith("Repair: `civiclake files reprocess housing_raw.t`")
