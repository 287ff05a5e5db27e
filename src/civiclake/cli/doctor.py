"""``civiclake doctor`` (find damage) and ``civiclake files reprocess`` (repair a files table)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

files_app = typer.Typer(
    help="A files source's table: `files reprocess` loads it again from landing's kept copies."
    "\n\nExample:\n\n    civiclake files reprocess housing/rent_accounts",
    no_args_is_help=True,
)


def doctor(
    datasets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Only these datasets, e.g. housing_raw.rents (default: every dataset).",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        Literal["text", "json"], typer.Option("--format", "-f", help="json for scripts.")
    ] = "text",
    project: ProjectOpt = None,
) -> None:
    """Check every dataset against the catalog and landing; print each finding's repair.

    Checks the Delta log (contiguous, readable commits), the version the catalog recorded
    against the log's newest, every data file the table reads, and landing's kept copies
    against the sha256 the ledger recorded. Exit 1 when anything is found.

    Example:

        civiclake doctor housing_refined.tenures --format json
    """
    from civiclake.doctor import as_json, examine
    from civiclake.project import Project

    proj = Project.load(project)
    report = examine(proj, datasets or [])
    if format == "json":
        print(json.dumps(as_json(report), indent=2))
    else:
        con = out.console(wide_when_piped=True)
        for f in report.findings:
            con.print(f"{f.dataset}: {f.kind}: {f.detail}", markup=False)
            con.print(f"  file:   {f.file}", markup=False)
            con.print(f"  repair: {f.repair}", markup=False)
        checked = (
            f"{out.plural(report.datasets, 'dataset')} and "
            f"{out.plural(report.landing_files, 'landing file')} checked"
        )
        if report.findings:
            con.print(f"{out.plural(len(report.findings), 'finding')}; {checked}", markup=False)
        else:
            con.print(f"No damage found: {checked}", markup=False)
    if report.findings:
        sys.exit(1)


@files_app.command("reprocess")
def files_reprocess(
    target: Annotated[
        str,
        typer.Argument(
            help="A files source (housing/rent_accounts) or its raw dataset "
            "(housing_raw.rent_accounts)."
        ),
    ],
    files: Annotated[
        list[str] | None,
        typer.Argument(help="Reload only these files (as they were named when they arrived)."),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Load a files source's table again from landing's kept copies, with today's config.

    After a config fix (a type under `columns:`, `renames:`, a CSV option) the tables end
    as a clean load would leave them. Without files, every file the ledger records is
    loaded again, in its first order and with its first import id, and the old table and
    its __rejected companion are renamed <table>.damaged-<time>, never deleted (the repair
    `civiclake doctor` names). With files, just their rows and rejects are replaced. A full
    export's history is always rebuilt from every export.

    Example:

        civiclake files reprocess housing/rent_accounts rent_accounts_2026-03.csv
    """
    from civiclake.cli.commands import _project, _run_action
    from civiclake.doctor import dataset_ref
    from civiclake.exceptions import ConfigError
    from civiclake.ingest import load_sources
    from civiclake.ingest.files.reprocess import files_source_of, reprocess
    from civiclake.ingest.files.source import FilesSource

    proj = _project(project)
    sources = list(load_sources(proj))
    if "/" in target:
        named = [s for s in sources if getattr(s, "name", None) == target]
        if not named or not isinstance(named[0], FilesSource):
            known = sorted(s.name for s in sources if isinstance(s, FilesSource))
            raise ConfigError(
                f"no files source is called {target}; files sources: {', '.join(known) or 'none'}"
            )
        source: FilesSource | None = named[0]
        ref = named[0].dataset
    else:
        ref = dataset_ref(proj, target)
        source = files_source_of(sources, ref)
    if source is None:
        raise ConfigError(
            f"no files source writes {ref.qualified}: `files reprocess` rebuilds a files "
            "source's raw table (`civiclake doctor` names the repair of other datasets)"
        )
    chosen = source
    _run_action(
        proj,
        f"{ref.department}/reprocess-{ref.name}",
        ref.department,
        lambda ctx: reprocess(chosen, ctx, files or ()),
        f"files reprocess {ref.qualified}",
    )
