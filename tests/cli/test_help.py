"""`civiclake --help` is instant and imports no heavy library."""

from __future__ import annotations

import subprocess
import sys
import time

HEAVY = ("duckdb", "pyarrow", "deltalake", "polars", "sqlalchemy", "sqlglot", "alembic", "pandas")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from civiclake.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_help_answers_in_under_half_a_second() -> None:
    best = min(_timed_help() for _ in range(3))
    assert best < 0.5, f"civiclake --help took {best:.2f}s"


def _timed_help() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "civiclake", "--help"], capture_output=True, check=True)
    return time.perf_counter() - start
