"""`civiclake files reprocess` after a config fix: the tables end as a clean load leaves them.

Finding 7 of issue 14: a file could not be reprocessed after a config fix — the rows a
wrong setting rejected stayed rejected, and the only way back was to delete the table.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from civiclake import init_project

from ._support import cli, cli_streams

WRONG = "type: files\nmin_file_age_seconds: 0\ncolumns:\n  ward: BIGINT\n"
FIXED = WRONG.replace("BIGINT", "VARCHAR")  # ward codes are not numbers after all


def _project(root: Path, config: str, files: dict[str, str]) -> Path:
    project_dir = init_project(root, departments=["housing"])
    source = project_dir / "sources" / "housing" / "rents.yaml"
    source.write_text(config, encoding="utf-8")
    inbox = project_dir / "data" / "landing" / "housing" / "rents"
    inbox.mkdir(parents=True, exist_ok=True)
    for n, (name, text) in enumerate(files.items()):
        (inbox / name).write_text(text, encoding="utf-8")
        os.utime(inbox / name, (1_700_000_000 + n, 1_700_000_000 + n))
    return project_dir


def _rows(capsys: pytest.CaptureFixture[str], project_dir: Path, sql: str) -> list[Any]:
    code, out, err = cli_streams(capsys, "query", sql, "--format", "json", "-p", str(project_dir))
    assert code == 0, err
    return [tuple(r.values()) for r in json.loads(out)]


FILES = {
    "rents_a.csv": "id,ward\n1,12\n2,W7\n",  # a ward code the wrong config rejects
    "rents_b.csv": "id,ward\n3,W9\n",
}


def test_one_file_reloaded_after_a_config_fix_equals_a_clean_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixed_files = FILES
    project_dir = _project(tmp_path / "council", WRONG, fixed_files)
    code, text = cli(capsys, "run", "-p", str(project_dir))
    assert code == 0, text
    rejected = "SELECT count(*) FROM housing_raw.rents__rejected"
    assert _rows(capsys, project_dir, rejected) == [(2,)]
    (project_dir / "sources" / "housing" / "rents.yaml").write_text(FIXED, encoding="utf-8")
    code, text = cli(
        capsys, "files", "reprocess", "housing/rents", "rents_a.csv", "-p", str(project_dir)
    )
    assert code == 0, text
    assert "rents_a.csv: reloaded (2 row(s), 0 rejected)" in text
    table = "SELECT id, ward FROM housing_raw.rents ORDER BY id"
    assert _rows(capsys, project_dir, table) == [(1, "12"), (2, "W7")]
    assert _rows(capsys, project_dir, rejected) == [(1,)]  # rents_b.csv's, not reloaded
    code, text = cli(capsys, "files", "reprocess", "housing/rents", "-p", str(project_dir))
    assert code == 0, text
    clean = _project(tmp_path / "clean", FIXED, fixed_files)
    assert cli(capsys, "run", "-p", str(clean))[0] == 0
    every = "SELECT id, ward, _source_file FROM housing_raw.rents ORDER BY id"
    assert _rows(capsys, project_dir, every) == [
        (i, p, f.replace(str(clean), str(project_dir))) for i, p, f in _rows(capsys, clean, every)
    ]


def test_a_name_not_loaded_is_refused_with_the_names_that_were(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project_dir = _project(tmp_path / "council", FIXED, FILES)
    assert cli(capsys, "run", "-p", str(project_dir))[0] == 0
    code, text = cli(
        capsys, "files", "reprocess", "housing/rents", "rents_z.csv", "-p", str(project_dir)
    )
    flat = " ".join(re.sub(r"[│┃║]", " ", text).split())
    assert code == 1
    assert "no loaded file is called rents_z.csv" in flat and "rents_a.csv" in flat
    code, text = cli(capsys, "files", "reprocess", "housing/rentz", "-p", str(project_dir))
    flat = " ".join(re.sub(r"[│┃║]", " ", text).split())
    assert code == 1 and "files sources: housing/rents" in flat


def test_a_full_exports_history_is_rebuilt_after_a_config_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = "type: files\nmin_file_age_seconds: 0\npatterns: ['rents_{m:%Y-%m}.csv']\n"
    wrong = export + "key: [id]\nfull_export: true\ncolumns:\n  ward: BIGINT\n"
    files = {
        "rents_2026-01.csv": "id,ward\n1,10\n2,20\n",
        "rents_2026-02.csv": "id,ward\n1,11\n2,W20\n",
    }
    project_dir = _project(tmp_path / "council", wrong, files)
    assert cli(capsys, "run", "-p", str(project_dir))[0] == 0
    latest = "SELECT id, ward FROM housing_raw.rents ORDER BY id"
    # 2's February row was rejected (W20 is no BIGINT): it keeps January's value
    assert _rows(capsys, project_dir, latest) == [(1, 11), (2, 20)]
    fixed = wrong.replace("ward: BIGINT", "ward: VARCHAR")
    (project_dir / "sources" / "housing" / "rents.yaml").write_text(fixed, encoding="utf-8")
    code, text = cli(
        capsys, "files", "reprocess", "housing/rents", "rents_2026-02.csv", "-p", str(project_dir)
    )
    assert code == 0, text
    assert "rebuilt from all 2 export(s)" in " ".join(re.sub(r"[│┃║]", " ", text).split())
    assert _rows(capsys, project_dir, latest) == [(1, "11"), (2, "W20")]
    clean = _project(tmp_path / "clean", fixed, files)
    assert cli(capsys, "run", "-p", str(clean))[0] == 0
    history = "SELECT id, ward, valid_from, valid_to FROM housing_raw.rents__history ORDER BY 1, 3"
    assert _rows(capsys, project_dir, history) == _rows(capsys, clean, history)
    # no rejects now, as in the clean load: the companion table is gone from the catalog
    code, text = cli(capsys, "datasets", "-p", str(project_dir))
    assert code == 0 and "rents__rejected" not in text
