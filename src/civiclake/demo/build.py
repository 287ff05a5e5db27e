"""``civiclake demo``: build the demo council project and run everything in it.

The demo is a normal project — created by :func:`init_project`, with source
and job files copied from ``demo/files/`` and seeded sample data written into
its landing folders — so what it shows is exactly what a council's own
project does.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.exceptions import ConfigError
from civiclake.project import CONFIG_FILE, Project
from civiclake.project.scaffold import init_project

if TYPE_CHECKING:
    from civiclake.runner.runner import RunSummary

DEPARTMENTS = ["housing", "parking"]

EXAMPLE_QUERIES = [
    "select * from housing_trusted.arrears_by_ward order by total_arrears desc limit 5",
    "select permit_type, sum(active_permits) as permits from parking_trusted.permits_by_ward "
    "group by permit_type order by permits desc",
    "select _source_file, _source_row, column_name, reason "
    "from housing_raw.rent_accounts__rejected",
]


def build_demo(
    directory: Path, *, force: bool = False, console: Any = None, seed: int = 2026
) -> RunSummary:
    """Create (or refresh) the demo project in ``directory`` and run all its steps."""
    from civiclake.demo.data import generate
    from civiclake.runner.progress import NullReporter, RichReporter
    from civiclake.runner.runner import Runner

    directory = directory.resolve()
    if (directory / CONFIG_FILE).exists():
        if not force:
            _say(console, f"Using the existing demo project in {directory} (--force rebuilds it)")
        else:
            _remove_demo(directory)
    if not (directory / CONFIG_FILE).exists():
        init_project(directory, name="riverside-council", departments=DEPARTMENTS)
        _copy_files(directory)
        project = Project.load(directory)
        written = generate(Path(project.layout.join("landing")), seed=seed)
        _age(written)
        _say(console, f"Created the demo council project in {directory}")
    project = Project.load(directory)
    reporter = RichReporter(console) if console is not None and console.is_terminal else None
    summary = Runner(project, reporter=reporter or NullReporter()).run(command="demo")
    if console is not None:
        from civiclake.cli.commands import datasets, print_summary

        print_summary(summary, project)
        console.print("\n[bold]What was built[/]")
        datasets(directory)
        cli = _command()
        console.print("\n[bold]Try it[/]")
        lines = [f"cd {directory}"]
        lines += [f'{cli} query "{sql}"' for sql in EXAMPLE_QUERIES]
        lines += [
            f"{cli} runs            # run history",
            f"{cli} list            # sources and jobs, with what they read and write",
            f"{cli} new job housing/my_first_job --template sql",
        ]
        for line in lines:
            console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)
    project.store.close()
    return summary


def _command() -> str:
    """How to call civiclake from a shell: by name when it is on PATH, else by full path."""
    import shutil
    import sys

    if shutil.which("civiclake"):
        return "civiclake"
    beside = Path(sys.executable).parent / "civiclake"
    return str(beside) if beside.exists() else f"{sys.executable} -m civiclake"


def _age(written: dict[str, list[Path]]) -> None:
    """Date the sample files an hour back: they were dropped earlier, not still being written."""
    import os
    import time

    past = time.time() - 3600
    for paths in written.values():
        for path in paths:
            os.utime(path, (past, past))


def _copy_files(directory: Path) -> None:
    files = resources.files("civiclake.demo").joinpath("files")
    with resources.as_file(files) as src:
        shutil.copytree(src, directory, dirs_exist_ok=True)


def _remove_demo(directory: Path) -> None:
    config = (directory / CONFIG_FILE).read_text(encoding="utf-8")
    if "name: riverside-council" not in config:
        raise ConfigError(
            f"{directory} holds a project that is not the demo; refusing to delete it"
        )
    shutil.rmtree(directory)


def _say(console: Any, message: str) -> None:
    if console is not None:
        console.print(message)
