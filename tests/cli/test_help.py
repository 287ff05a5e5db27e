"""`civiclake --help` imports no heavy library (its wall time: bench/cli_help.py)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

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


def _commands() -> dict[str, Any]:
    """Every command and group of the CLI by its path (``access token create``), root first."""
    import typer.main

    from civiclake.cli.app import app

    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        found[" ".join(path)] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_help_lists_the_daily_commands_first_and_administration_last() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "civiclake", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed[:4] == ["init", "demo", "run", "query"]
    assert listed.index("status") < listed.index("runs") < listed.index("publish")
    assert listed[-5:] == ["department", "access", "model", "warehouse", "simulate"]
    top = {path for path in _commands() if path and " " not in path}
    assert set(listed) == top, "every command is listed once"


def test_every_command_shows_one_example_that_parses() -> None:
    """The example is a real command line: it names the command and its arguments parse."""
    import shlex

    for path, command in _commands().items():
        if not path:
            continue
        text = command.help or ""
        assert text.count("Example:") == 1, f"`civiclake {path} --help` shows no example"
        example = text.split("Example:")[1].strip().splitlines()[0]
        words = shlex.split(example.split(" > ")[0])
        assert words[: 1 + len(path.split())] == ["civiclake", *path.split()], example
        args = words[1 + len(path.split()) :]
        if hasattr(command, "commands") and args and args[0] in command.commands:
            command, args = command.commands[args[0]], args[1:]
        command.make_context(path, args)  # raises if the example does not parse
