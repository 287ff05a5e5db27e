"""Taking files safely: a stalled writer, a missing folder, files matching no pattern."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.landing import sha256_of

from ._support import inbox, raw, rejected, rows, run
from .conftest import MakeSource

ROWS = [f"T{i:04d},{i}\n" for i in range(4003)]
HEADER = "ref,amount\n"


def _age(path: Path | int, seconds: float = 60) -> None:
    """As if the writer had paused ``seconds`` ago (no sleeping); a descriptor ages the file
    the writer holds, wherever its name is now."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _refs(project: Project) -> list[str]:
    return sorted(r["ref"] for r in rows(project, raw()))


def _rejects(project: Project) -> list[dict[str, object]]:
    uri = project.layout.table_uri(rejected())
    return project.tables.read(uri).to_pylist() if project.tables.exists(uri) else []


@pytest.mark.parametrize("watched", [False, True], ids=["landing inbox", "watched folder"])
def test_a_writer_that_stalls_past_the_age_window_loses_no_rows(
    project: Project, make_source: MakeSource, tmp_path: Path, watched: bool
) -> None:
    if watched:
        folder = tmp_path / "shared-drive"
        folder.mkdir()
        source = make_source(folder=str(folder), min_file_age_seconds=5)
    else:
        folder = inbox(project)
        source = make_source(min_file_age_seconds=5)
    path = folder / "rents.csv"
    with path.open("w", encoding="utf-8") as writer:  # the writer holds the file open
        writer.write(HEADER + "".join(ROWS[:1999]))  # half
        writer.flush()
        _age(writer.fileno())  # it pauses longer than min_file_age_seconds
        first = run(source)
        writer.write("".join(ROWS[1999:]))  # and then finishes
        writer.flush()
        _age(writer.fileno())
    second = run(source)
    third = run(source)

    assert first.rows_out == 1999
    assert _refs(project) == [f"T{i:04d}" for i in range(4003)]  # every row exactly once
    assert _rejects(project) == []
    assert third.rows_out == 0
    (entry,) = project.store.loaded_files("housing/rent_accounts")
    kept = Path(project.layout.join(entry["archived_path"]))
    assert sha256_of(kept) == entry["sha256"]  # the kept copy is exactly what was loaded
    assert entry["rows_loaded"] == 4003
    assert {r["_source_file"] for r in rows(project, raw())} == {entry["archived_path"]}
    assert any("was still being written when it was taken" in n for n in second.notes)


def test_a_file_changing_while_it_loads_is_loaded_again_next_run(
    project: Project, make_source: MakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civiclake.ingest.files import source as files_source

    source = make_source()
    path = inbox(project) / "rents.csv"
    path.write_text(HEADER + "".join(ROWS[:10]), encoding="utf-8")
    _age(path)
    real = files_source.load_file

    def load_then_append(*args: object, **kwargs: object) -> object:
        loaded = real(*args, **kwargs)  # type: ignore[arg-type]
        with path.open("a", encoding="utf-8") as late:  # the writer was not done after all
            late.write("".join(ROWS[10:20]))
        return loaded

    monkeypatch.setattr(files_source, "load_file", load_then_append)
    first = run(source)
    monkeypatch.undo()
    (kept,) = [p for p in inbox(project).glob("*/rents.csv")]
    _age(kept)
    run(source)

    assert any("changed while it was loaded" in n for n in first.notes)
    assert _refs(project) == [f"T{i:04d}" for i in range(20)]
    (entry,) = project.store.loaded_files("housing/rent_accounts")
    assert sha256_of(kept) == entry["sha256"]


def test_a_missing_folder_is_an_error_naming_it_and_the_config_file(
    project: Project, make_source: MakeSource, tmp_path: Path
) -> None:
    source = make_source(folder=str(tmp_path / "no-such-share"))

    with pytest.raises(IngestError) as err:
        run(source)

    assert str(err.value) == (
        f"sources/housing/rent_accounts.yaml, key `folder`: the folder "
        f"{tmp_path / 'no-such-share'} does not exist. Nothing was loaded; create it, mount "
        "the drive it is on, or correct `folder:`"
    )


def test_a_landing_inbox_not_made_yet_is_fine(project: Project, make_source: MakeSource) -> None:
    result = run(make_source())
    assert result.rows_out == 0


def test_a_file_matching_no_pattern_is_reported_and_left_alone(
    project: Project, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(patterns=["rent_{month:%Y-%m}.csv"])
    folder = inbox(project)
    (folder / "rent_2026-01.csv").write_text(HEADER + ROWS[0], encoding="utf-8")
    (folder / "rents january.xlsx").write_bytes(b"not matched")
    (folder / "~$rent_2026-02.csv").write_bytes(b"office lock")
    (folder / ".DS_Store").write_bytes(b"hidden")
    for p in folder.iterdir():
        _age(p)

    result = run(source, caplog)

    assert result.rows_out == 1
    expected = (
        "rents january.xlsx: matches none of the patterns ['rent_{month:%Y-%m}.csv'] in "
        "sources/housing/rent_accounts.yaml; left in the inbox (rename it, or add a pattern)"
    )
    assert expected in result.notes
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [expected]  # lock and hidden files stay silent
    assert (folder / "rents january.xlsx").exists()


def test_a_stalled_writer_cut_mid_row_is_refused_until_complete(
    project: Project, make_source: MakeSource
) -> None:
    source = make_source(min_file_age_seconds=5)
    path = inbox(project) / "rents.csv"
    with path.open("w", encoding="utf-8") as writer:
        writer.write(HEADER + "".join(ROWS[:1999]) + "T1999")  # half, ending mid-row
        writer.flush()
        _age(writer.fileno())
        with pytest.raises(IngestError, match="it ends mid-row at line 2001"):
            run(source)
        writer.write(",1999\n" + "".join(ROWS[2000:]))
        writer.flush()
        _age(writer.fileno())
    run(source)

    assert _refs(project) == [f"T{i:04d}" for i in range(4003)]
    assert not path.exists()
