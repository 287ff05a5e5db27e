"""Options every command shares, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="Project folder (default: this folder or the nearest parent with civiclake.yaml).",
        envvar="CIVICLAKE_PROJECT",
        show_default=False,
    ),
]
