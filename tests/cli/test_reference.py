"""The CLI reference in docs/cli.md is generated from the commands and must not drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_matches_the_commands(tmp_path: Path) -> None:
    fresh = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "civiclake.cli.app",
            "utils",
            "docs",
            "--name",
            "civiclake",
            "--output",
            str(fresh),
        ],
        check=True,
        capture_output=True,
    )
    assert fresh.read_text() == DOCS.read_text(), "docs/cli.md is stale: run `make docs`"
