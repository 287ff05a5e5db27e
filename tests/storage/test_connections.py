"""Every DuckDB connection comes from the project's one factory, with its limits."""

from __future__ import annotations

import ast
from pathlib import Path

import civiclake
from civiclake import Project
from civiclake.storage.connections import Connections

PACKAGE = Path(civiclake.__file__).parent


def _settings(con: object) -> tuple[object, ...]:
    row = con.execute(  # type: ignore[attr-defined]
        "SELECT current_setting('threads'), current_setting('memory_limit'), "
        "current_setting('temp_directory')"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_project_connections_apply_its_limits_and_spill_folder(project: Project) -> None:
    threads, memory, temp = _settings(project.connections.open())
    assert threads == project.config.engine.threads
    assert memory.endswith("GiB")
    assert Path(temp) == project.dir / ".civiclake" / "tmp"


def test_job_sessions_and_the_table_store_share_the_factory(project: Project) -> None:
    assert project.tables.connections is project.connections
    session = project.engine().session()
    try:
        assert _settings(session.con)[0] == project.config.engine.threads  # type: ignore[attr-defined]
    finally:
        session.close()


def test_connect_closes_and_sets_the_time_zone(tmp_path: Path) -> None:
    connections = Connections(threads=1, memory_limit="256MB", temp_directory=tmp_path / "t")
    with connections.connect(timezone="UTC", ordered=False) as con:
        row = con.execute(
            "SELECT current_setting('TimeZone'), current_setting('preserve_insertion_order')"
        ).fetchone()
        assert row == ("UTC", False)
    assert (tmp_path / "t").is_dir()


def test_nothing_else_calls_duckdb_connect() -> None:
    """A new ``duckdb.connect()`` would escape the project's threads and memory limit."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "connections.py" and path.parent.name == "storage":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "connect"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "duckdb"
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
