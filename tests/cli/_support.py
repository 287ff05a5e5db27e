"""Running the CLI as a user would, from tests."""

from __future__ import annotations

import pytest

from civiclake.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``civiclake ARGS``: its exit code and everything it printed."""
    code, out, err = cli_streams(capsys, *args)
    return code, out + err


def cli_streams(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``civiclake ARGS``: its exit code, stdout and stderr apart (what a pipe would get)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
