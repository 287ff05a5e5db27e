"""``civiclake doctor`` (find damage) and ``civiclake files reprocess`` (repair a files table)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

files_app = typer.Typer(
    help="A files source's table: `files reprocess` rebuilds it from landing's kept copies."
    "\n\nExample:\n\n    civiclake files reprocess housing_raw.rent_accounts",
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
    dataset: Annotated[
        str, typer.Argument(help="A files source's raw dataset, e.g. housing_raw.rent_accounts.")
    ],
    project: ProjectOpt = None,
) -> None:
    """Rebuild a files source's table from landing's kept copies (the damaged one is kept).

    Every file the ledger records as loaded is loaded again, in its first order and with its
    first import id; the old table and its __rejected companion are renamed
    <table>.damaged-<time>, never deleted. Use it when `civiclake doctor` says so.

    Example:

        civiclake files reprocess housing_raw.rent_accounts
    """
    from civiclake.cli.commands import _project, _run_action
    from civiclake.doctor import dataset_ref
    from civiclake.exceptions import ConfigError
    from civiclake.ingest import load_sources
    from civiclake.ingest.files.reprocess import files_source_of, reprocess

    proj = _project(project)
    ref = dataset_ref(proj, dataset)
    source = files_source_of(list(load_sources(proj)), ref)
    if source is None:
        raise ConfigError(
            f"no files source writes {ref.qualified}: `files reprocess` rebuilds a files "
            "source's raw table (`civiclake doctor` names the repair of other datasets)"
        )
    _run_action(
        proj,
        f"{ref.department}/reprocess-{ref.name}",
        ref.department,
        lambda ctx: reprocess(source, ctx),
        f"files reprocess {ref.qualified}",
    )
