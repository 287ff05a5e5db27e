"""The inbox protocol every file-fed source follows (civiclake.ingest.landing.Inbox)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.ingest import landing


def _inbox(project: Project, tmp_path: Path, *, from_inbox: bool = True) -> landing.Inbox:
    return landing.Inbox(
        source="housing/rents",
        dataset="housing_raw.rents",
        archive=landing.LocalLanding(tmp_path / "archive"),
        root=str(tmp_path),
        from_inbox=from_inbox,
        min_age_seconds=5,
        store=project.store,
        log=logging.getLogger("test"),
    )


def _drop(folder: Path, name: str, text: str, *, age: float = 60) -> landing.Candidate:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    then = time.time() - age
    os.utime(path, (then, then))
    (found,) = [c for c in landing.scan(folder, ["*.csv"]) if c.path == path]
    return found


def test_a_file_is_archived_loaded_recorded_and_only_then_removed(
    project: Project, tmp_path: Path
) -> None:
    inbox = _inbox(project, tmp_path)
    candidate = _drop(tmp_path / "in", "rents.csv", "id\n1\n")
    seen: list[tuple[str, bool]] = []

    def load(received: landing.Received, kept: Path, source_file: str) -> int:
        # the original is still in the inbox while loading; the archived copy is read
        seen.append((source_file, candidate.path.exists()))
        return 1

    taken = inbox.take(candidate, load, lambda n: (n, 0), import_id="i1")
    assert taken == landing.Loaded(1)
    assert seen[0][1] and seen[0][0].startswith("archive/")
    assert not candidate.path.exists()
    assert (tmp_path / "archive" / "rents.csv").read_text() == "id\n1\n"
    assert project.store.loaded_file(
        "housing/rents", landing.sha256_of(tmp_path / "archive" / "rents.csv")
    )


def test_the_same_content_under_another_name_is_not_loaded_again(
    project: Project, tmp_path: Path
) -> None:
    inbox = _inbox(project, tmp_path)
    inbox.take(
        _drop(tmp_path / "in", "jan.csv", "id\n1\n"), lambda *a: 1, lambda n: (n, 0), import_id="i1"
    )
    again = _drop(tmp_path / "in", "jan (copy).csv", "id\n1\n")
    taken = inbox.take(again, lambda *a: 1, lambda n: (n, 0), import_id="i2")
    assert isinstance(taken, landing.Skipped) and taken.reason == "already loaded"
    assert taken.known_as.endswith("jan.csv")
    assert not again.path.exists()  # moved out of the inbox: kept in the archive


def test_empty_and_young_files_wait_in_the_inbox(project: Project, tmp_path: Path) -> None:
    inbox = _inbox(project, tmp_path)
    empty = _drop(tmp_path / "in", "empty.csv", "")
    young = _drop(tmp_path / "in", "young.csv", "id\n1\n", age=0)
    calls: list[object] = []
    for candidate, reason in ((empty, "empty"), (young, "still being written")):
        taken = inbox.take(candidate, lambda *a: calls.append(a), lambda n: (0, 0), import_id="i")
        assert taken == landing.Skipped(reason)  # type: ignore[arg-type]
        assert candidate.path.exists()
    assert calls == []


def test_a_failed_load_leaves_the_file_in_the_inbox_for_the_next_run(
    project: Project, tmp_path: Path
) -> None:
    inbox = _inbox(project, tmp_path)
    candidate = _drop(tmp_path / "in", "bad.csv", "id\n1\n")

    def crash(*_: object) -> int:
        raise RuntimeError("killed mid-load")

    with pytest.raises(RuntimeError):
        inbox.take(candidate, crash, lambda n: (n, 0), import_id="i")
    assert candidate.path.exists()
    assert project.store.loaded_file("housing/rents", landing.sha256_of(candidate.path)) is None
    assert inbox.take(candidate, lambda *a: 1, lambda n: (n, 0), import_id="i") == landing.Loaded(1)


def test_a_kept_copy_that_grows_after_its_load_is_revisited(
    project: Project, tmp_path: Path
) -> None:
    inbox = _inbox(project, tmp_path)
    candidate = _drop(tmp_path / "in", "rents.csv", "id\n1\n")
    with candidate.path.open("a") as writer:  # the writer still holds it open
        inbox.take(candidate, lambda *a: 1, lambda n: (n, 0), import_id="i1")
        writer.write("2\n")
    kept = tmp_path / "archive" / "rents.csv"
    then = time.time() - 60
    os.utime(kept, (then, then))

    (again,) = inbox.revisit()
    seen: list[landing.Received] = []
    taken = inbox.take(again, lambda r, *a: seen.append(r) or 2, lambda n: (n, 0), import_id="i2")

    assert again.path == kept and again.continues is not None
    assert taken == landing.Loaded(2, "continued")
    assert seen[0].replaces == ("archive/rents.csv",)
    (entry,) = project.store.loaded_files("housing/rents")  # the partial entry is replaced
    assert entry["sha256"] == landing.sha256_of(kept) and entry["path"] == str(candidate.path)
    assert inbox.revisit() == []
