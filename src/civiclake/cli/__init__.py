"""The ``civiclake`` command line. Importing it loads no heavy library."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the Typer app, turning civiclake errors into clear messages."""
    from civiclake.cli.app import app
    from civiclake.exceptions import CivicLakeError

    try:
        app(args=argv, prog_name="civiclake")
    except CivicLakeError as exc:
        from civiclake.cli.output import print_error

        print_error(exc)
        sys.exit(1)


__all__ = ["main"]
