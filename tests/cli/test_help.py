"""`civiclake --help` imports no heavy library (its wall time: bench/cli_help.py)."""

from __future__ import annotations

import subprocess
import sys

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


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    out = subprocess.run(
        [sys.executable, "-m", "civiclake", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"civiclake {version('civiclake')}"
