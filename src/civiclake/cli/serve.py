"""``civiclake serve``: the SQL HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from civiclake.cli import output as out


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: serve.host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: serve.port, 8765).")] = None,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project folder.", envvar="CIVICLAKE_PROJECT"),
    ] = None,
) -> None:
    """Serve read-only SQL over HTTP (POST /api/sql with a bearer token) under the access policy.

    Example:

        civiclake serve --port 8765
    """
    from civiclake.exceptions import MissingDependencyError
    from civiclake.project import Project
    from civiclake.serve import create_app

    try:
        import uvicorn
    except ImportError:
        raise MissingDependencyError("uvicorn", "serve") from None
    proj = Project.load(project)
    settings = proj.config.serve
    host = host or settings.host
    port = port or settings.port
    app = create_app(proj)
    console = out.console(stderr=True)
    console.print(f"SQL API on http://{host}:{port}/api/sql — try:")
    from civiclake.serve.app import curl_example

    console.print(curl_example(host, port), soft_wrap=True, markup=False)
    console.print("Tokens: `civiclake access token create <user>`. Ctrl-C stops.")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
