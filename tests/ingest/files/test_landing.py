"""Load-once, the landing archive, files still being written, and crash safety."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.ingest.exceptions import IngestError

from ._support import inbox, raw, rows, run
from .conftest import MakeSource

JAN = "ref,amount\nA1,1\nA2,2\n"


def _archived(project: Project) -> list[str]:
    base = Path(project.layout.landing_inbox("housing", "rent_accounts"))
    return sorted(p.relative_to(base).as_posix().split("/", 1)[1] for p in base.glob("*/*"))


def test_each_file_loads_once_and_moves_to_the_dated_archive(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "jan.csv").write_text(JAN, encoding="utf-8")

    first = run(source)
    second = run(source)

    assert first.rows_out == 2 and second.rows_out == 0
    assert len(rows(project, raw())) == 2
    assert not (folder / "jan.csv").exists()
    assert _archived(project) == ["jan.csv"]
    (entry,) = project.store.loaded_files("housing/rent_accounts")
    assert entry["rows_loaded"] == 2 and entry["archived_path"].endswith("/jan.csv")
    assert entry["dataset"] == "housing_raw.rent_accounts"


def test_renamed_copy_is_skipped_and_changed_content_is_loaded(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "jan.csv").write_text(JAN, encoding="utf-8")
    run(source)

    (folder / "jan (copy).csv").write_text(JAN, encoding="utf-8")
    renamed = run(source)
    (folder / "jan.csv").write_text(JAN + "A3,3\n", encoding="utf-8")
    changed = run(source)

    assert renamed.rows_out == 0
    assert "jan (copy).csv: same content as jan.csv, skipped" in renamed.notes
    assert changed.rows_out == 3
    assert len(rows(project, raw())) == 5
    # same name, other content: kept beside the first with a short hash suffix
    names = _archived(project)
    assert "jan.csv" in names and "jan (copy).csv" in names
    assert any(n.startswith("jan.") and n != "jan.csv" and n.endswith(".csv") for n in names)


def test_empty_file_waits_for_content(project: Project, make_source: MakeSource) -> None:
    source = make_source()
    (inbox(project) / "jan.csv").write_bytes(b"")

    result = run(source)

    assert "jan.csv: empty file, will be loaded when it has content" in result.notes
    assert project.store.loaded_files() == []
    assert (inbox(project) / "jan.csv").exists()


def test_file_still_being_written_is_skipped_then_loaded(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(min_file_age_seconds=60)
    path = inbox(project) / "jan.csv"
    path.write_text(JAN, encoding="utf-8")

    early = run(source)
    old = time.time() - 120
    os.utime(path, (old, old))
    later = run(source)

    assert early.rows_out == 0
    assert "1 file still being written, will be loaded next run" in early.notes
    assert later.rows_out == 2


def test_external_folder_is_never_emptied(
    project: Project, make_source: MakeSource, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-drive"
    shared.mkdir()
    (shared / "jan.csv").write_text(JAN, encoding="utf-8")
    source = make_source(folder=str(shared))

    run(source)
    again = run(source)

    assert (shared / "jan.csv").exists()
    assert again.rows_out == 0 and len(rows(project, raw())) == 2
    assert _archived(project) == ["jan.csv"]


def test_rerun_after_a_crash_before_the_ledger_does_not_duplicate(
    project: Project, make_source: MakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "jan.csv").write_text(JAN, encoding="utf-8")
    store = project.store

    def crash(**values: object) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(store, "record_loaded_file", crash)
    with pytest.raises(KeyboardInterrupt):
        run(source)
    monkeypatch.undo()
    assert (folder / "jan.csv").exists()  # removed only once the ledger holds it
    assert len(rows(project, raw())) == 2

    result = run(source)

    assert len(rows(project, raw())) == 2
    assert result.rows_out == 0
    assert any("committed by an interrupted run" in n for n in result.notes)
    assert len(store.loaded_files()) == 1
    assert not (folder / "jan.csv").exists()


def test_a_bad_file_does_not_stop_the_good_ones(project: Project, make_source: MakeSource) -> None:
    source = make_source()
    folder = inbox(project)
    (folder / "a.csv").write_text(JAN, encoding="utf-8")
    (folder / "b.csv").write_bytes("ref,amount\nB1,Müller\n".encode("latin-1"))
    (folder / "c.csv").write_text("ref,amount\nC1,5\n", encoding="utf-8")

    with pytest.raises(IngestError, match=r"1 of 3 file\(s\) could not be loaded") as info:
        run(source)

    assert "b.csv, line 2" in str(info.value)
    assert sorted(r["ref"] for r in rows(project, raw())) == ["A1", "A2", "C1"]
    assert (folder / "b.csv").exists()


def test_object_store_root_is_refused_clearly(project: Project, make_source: MakeSource) -> None:
    source = make_source()
    project.layout.root = "s3://council-lake/data"

    with pytest.raises(IngestError, match="object-store landing comes in a later release"):
        run(source)
