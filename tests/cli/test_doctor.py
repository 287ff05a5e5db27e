"""Damage to a table is found and refused, not inherited: query, run, doctor, files reprocess.

Each kind of Delta damage measured on main (issue 13 §4) is made by hand, as a disk fault or
a careless ``rm`` would, in a files source's table loaded over four runs; then what a user
runs must fail clearly (no Python or Rust traceback, exit 1, the dataset, the file and the
repair named), lose nothing more (the next file stays in the inbox), and the repair named
must bring back every row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ._support import cli, cli_streams

DATASET = "housing_raw.rents"
REPAIR = f"civiclake files reprocess {DATASET}"


def _drop(project_dir: Path, n: int) -> Path:
    inbox = project_dir / "data" / "landing" / "housing" / "rents"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"rents_{n}.csv"
    path.write_text(f"id,amount\n{n},{n}.50\n{n + 100},{n}.25\n", encoding="utf-8")
    return path


@pytest.fixture
def rents(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A files source whose table took four runs, one file each: versions 0–3."""
    source = project_dir / "sources" / "housing" / "rents.yaml"
    source.write_text("type: files\nmin_file_age_seconds: 0\n", encoding="utf-8")
    for n in range(1, 5):
        _drop(project_dir, n)
        code, text = cli(capsys, "run", "-p", str(project_dir))
        assert code == 0, text
    return project_dir


def _table(project_dir: Path) -> Path:
    return project_dir / "data" / "raw" / "housing" / "rents"


def _commit(project_dir: Path, version: int) -> Path:
    return _table(project_dir) / "_delta_log" / f"{version:020d}.json"


def _count(capsys: pytest.CaptureFixture[str], project_dir: Path) -> tuple[int, int]:
    code, out, err = cli_streams(
        capsys,
        "query",
        f"SELECT count(*) AS n, count(DISTINCT _source_file) AS files FROM {DATASET}",
        "--format",
        "json",
        "-p",
        str(project_dir),
    )
    assert code == 0, err
    row = json.loads(out)[0]
    return row["n"], row["files"]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _first_data_file(project_dir: Path) -> Path:
    return sorted(_table(project_dir).glob("*.parquet"))[0]


# what was done to the table → the file the messages must name
DAMAGE: dict[str, Callable[[Path], Path]] = {
    "missing middle commit": lambda d: _unlink(_commit(d, 2)),
    "truncated latest commit": lambda d: _apply(_truncate, _commit(d, 3)),
    "garbage latest commit": lambda d: _apply(lambda p: p.write_text("garbage\n"), _commit(d, 3)),
    "deleted data file": lambda d: _unlink(_first_data_file(d)),
    "deleted latest commit": lambda d: _unlink(_commit(d, 3)),
}


def _unlink(path: Path) -> Path:
    path.unlink()
    return path


def _apply(change: Callable[[Path], object], path: Path) -> Path:
    change(path)
    return path


def _assert_clear(text: str, file: Path) -> None:
    """One message naming the dataset, the damaged file and the repair; no driver text."""
    flat = " ".join(text.split())  # Rich wraps long lines
    assert DATASET in flat
    assert str(file) in flat.replace(" ", "") or file.name in flat
    assert REPAIR in flat
    for driver in ("Traceback", "DeltaError", "Kernel error", "IOException", "No files found"):
        assert driver not in text


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_is_refused_by_query_and_run_and_repaired_from_landing(
    rents: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    assert _count(capsys, rents) == (8, 4)
    file = DAMAGE[damage](rents)

    code, text = cli(capsys, "query", f"SELECT count(*) FROM {DATASET}", "-p", str(rents))
    assert code == 1, text
    _assert_clear(text, file)

    waiting = _drop(rents, 5)
    code, text = cli(capsys, "run", "-p", str(rents))
    assert code == 1, text
    _assert_clear(text, file)
    assert waiting.exists()  # nothing further lost: the next file waits in the inbox

    code, out, _ = cli_streams(capsys, "doctor", "--format", "json", "-p", str(rents))
    assert code == 1
    report = json.loads(out)
    assert not report["ok"]
    assert [f["dataset"] for f in report["findings"]] == [DATASET]
    assert report["findings"][0]["file"] == str(file)
    assert REPAIR in report["findings"][0]["repair"]

    code, text = cli(capsys, "files", "reprocess", DATASET, "-p", str(rents))
    assert code == 0, text
    assert list(_table(rents).parent.glob("rents.damaged-*")), "the damaged table is kept"
    code, text = cli(capsys, "doctor", "-p", str(rents))
    assert code == 0, text
    assert "No damage found" in text
    assert _count(capsys, rents) == (8, 4)  # every row of every loaded file is back

    code, text = cli(capsys, "run", "-p", str(rents))
    assert code == 0, text
    assert not waiting.exists()
    assert _count(capsys, rents) == (10, 5)


def test_doctor_names_each_finding_with_its_repair_in_text(
    rents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _commit(rents, 3).unlink()
    code, text = cli(capsys, "doctor", DATASET, "-p", str(rents))
    assert code == 1
    flat = " ".join(text.split())
    assert f"{DATASET}: behind-catalog: the catalog recorded version 3" in flat
    assert "log ends at version 2" in flat
    assert f"repair: `{REPAIR}`" in flat
    assert "1 finding; 1 dataset and 4 landing files checked" in flat


def test_doctor_checks_landing_copies_against_the_ledger(
    rents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = sorted((rents / "data" / "landing" / "housing" / "rents").glob("*/rents_*.csv"))
    assert len(kept) == 4
    kept[0].write_text("id,amount\n1,999.00\n", encoding="utf-8")  # edited after loading
    kept[1].unlink()
    code, out, _ = cli_streams(capsys, "doctor", "--format", "json", "-p", str(rents))
    assert code == 1
    found = {f["kind"]: f for f in json.loads(out)["findings"]}
    assert set(found) == {"landing-changed", "landing-missing"}
    assert found["landing-changed"]["file"] == str(kept[0])
    assert found["landing-missing"]["file"] == str(kept[1])
    assert "restore" in found["landing-missing"]["repair"]

    # a repair from landing would be wrong now: it refuses, naming the file, moving nothing
    code, text = cli(capsys, "files", "reprocess", DATASET, "-p", str(rents))
    assert code == 1
    flat = " ".join(text.split())
    assert kept[0].name in flat and "Nothing was moved" in flat
    assert not list(_table(rents).parent.glob("rents.damaged-*"))
    assert _count(capsys, rents) == (8, 4)


def test_doctor_on_a_healthy_project_and_an_unknown_dataset(
    rents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = cli(capsys, "doctor", "-p", str(rents))
    assert code == 0
    assert "No damage found: 1 dataset and 4 landing files checked" in " ".join(text.split())
    code, text = cli(capsys, "doctor", "housing_raw.rent", "-p", str(rents))
    assert code == 1
    assert "did you mean housing_raw.rents?" in " ".join(text.split())
