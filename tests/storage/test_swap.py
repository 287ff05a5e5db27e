"""The table swap of ``history rebuild`` (storage/swap.py), case by case on real folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from civiclake.storage import TableStore
from civiclake.storage.exceptions import StorageError
from civiclake.storage.swap import finish, readable, rebuilding, swap_in


def _table(uri: Path, value: int) -> None:
    TableStore().write(str(uri), pa.table({"v": [value]}), mode="overwrite")


def _value(uri: str) -> int:
    return int(TableStore().read(uri).column("v")[0].as_py())


def test_a_finished_swap_leaves_only_the_new_table(tmp_path: Path) -> None:
    target = tmp_path / "apps"
    _table(target, 1)
    seen: list[int] = []
    with rebuilding(str(target)) as built:
        _table(Path(built), 2)
        assert _value(readable(str(target))) == 1  # the old table until the swap
        swap_in(str(target), on_swapped=lambda: seen.append(_value(str(target))))
    assert seen == [2]
    assert _value(str(target)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apps"]


def test_a_second_rebuild_of_the_same_table_is_refused_while_the_first_is_alive(
    tmp_path: Path,
) -> None:
    target = tmp_path / "apps"
    _table(target, 1)
    holder = (
        "import os, sys\n"
        "from civiclake.storage.swap import rebuilding\n"
        "with rebuilding(sys.argv[1]) as built:\n"
        "    os.makedirs(built)\n"
        "    print('building', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "building\n"
        with pytest.raises(StorageError) as caught, rebuilding(str(target)):
            pass
        assert str(caught.value) == (
            f"{target} is being rebuilt by another process ({target}.rebuilding is locked); "
            "wait for it to finish"
        )
        assert finish(str(target)) is False  # a writer leaves a live rebuild alone
        assert (tmp_path / "apps.rebuild").exists()
    finally:
        child.communicate("")  # it ends without swapping: its build is abandoned
    assert finish(str(target)) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apps"]
    assert _value(str(target)) == 1


def test_a_recorded_swap_whose_tables_are_both_gone_names_what_to_do(tmp_path: Path) -> None:
    target = tmp_path / "apps"
    (tmp_path / "apps.swap").write_text("{}")
    with pytest.raises(StorageError) as caught:
        finish(str(target))
    assert str(caught.value) == (
        f"{target}.swap records a swap into {target}, but neither {target} nor "
        f"{target}.rebuild holds a table; restore {target} from {target}.old or a backup, "
        f"then remove {target}.swap"
    )
