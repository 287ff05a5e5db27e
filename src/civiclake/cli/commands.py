"""What the commands do; kept apart from their declarations in :mod:`civiclake.cli.app`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.cli import output as out
from civiclake.cli.render import print_summary

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

    from civiclake.project import Project
    from civiclake.steps import RunContext
    from civiclake.storage import DatasetRef


def _project(path: Path | None) -> Project:
    """The project, its damage errors naming their dataset's repair (:mod:`civiclake.doctor`)."""
    from civiclake.doctor import advise
    from civiclake.project import Project

    project = Project.load(path)
    advise(project)
    return project


def init(directory: Path, name: str | None, departments: list[str]) -> None:
    from civiclake.project.scaffold import init_project

    path = init_project(directory, name=name, departments=departments)
    console = out.console()
    console.print(f"Created project in [bold]{path}[/]")
    console.print("Next: drop files into a source's landing folder, add a job with")
    console.print("  civiclake new job <department>/<name> --template sql")
    console.print("and run everything with `civiclake run`.")


def department_add(project_dir: Path | None, name: str) -> None:
    from civiclake.naming import schema_name
    from civiclake.project.scaffold import add_department

    project = _project(project_dir)
    ident = add_department(project.dir, name)
    for folder in ("jobs", "sources"):
        (project.dir / folder / ident).mkdir(parents=True, exist_ok=True)
    out.console().print(
        f"Added department [bold]{ident}[/] (SQL schemas {schema_name(ident, 'raw')}, "
        f"{schema_name(ident, 'refined')}, {schema_name(ident, 'trusted')}); "
        f"jobs go in jobs/{ident}/"
    )


def department_list(project_dir: Path | None) -> None:
    from rich.table import Table

    from civiclake.naming import sql_name

    project = _project(project_dir)
    table = Table("department", "SQL schema prefix", "description")
    for dept in project.config.departments:
        table.add_row(dept.id, f"{sql_name(dept.id)}_<zone>", dept.description)
    out.console().print(table)


def new_job(project_dir: Path | None, name: str, template: str, zone: str) -> None:
    from civiclake.jobs.templates import new_job as write_template

    project = _project(project_dir)
    path = write_template(project, name, template=template, zone=zone)
    out.console().print(
        f"Wrote [bold]{path.relative_to(project.dir)}[/]. Edit it, then run it with "
        f"`civiclake run --select {name}`"
    )


def new_source(
    project_dir: Path | None, name: str, file: Path, force: bool, *, load: bool = True
) -> None:
    from civiclake.ingest.files.scaffold import new_source as write_source

    project = _project(project_dir)
    made = write_source(project, name, file, force=force)
    found = made.found
    key = ", ".join(found.keys[0]) if found.keys else "none found (rows are appended)"
    pii = ", ".join(g.column for g in found.pii) or "none guessed"
    console = out.console()
    console.print(
        f"Wrote [bold]{made.config.relative_to(project.dir).as_posix()}[/] "
        f"({found.format}, {found.rows} rows): pattern {found.pattern}, key {key}, PII {pii}."
    )
    console.print(f"Copied {file.name} to {_shown_path(project, str(made.landed.parent))}/")
    if not load:
        console.print(
            f"Review the lines marked `review`, then load it: `civiclake run --select {made.name}`"
        )
        return
    from civiclake.runner.runner import Runner

    summary = Runner(project).run([made.name], command=f"new source {made.name}")
    print_summary(summary, project)
    if not summary.ok:
        console.print(
            "The source file is written and the sample is in landing: fix what the run "
            f"says, then `civiclake run --select {made.name}`"
        )
        sys.exit(1)
    from civiclake.ingest import load_sources

    written = [s for s in load_sources(project) if s.name == made.name]
    shown = written[0].outputs[0].qualified if written else made.name
    console.print(
        f'Loaded. Query it: `civiclake query "SELECT * FROM {shown} LIMIT 10"`; review the '
        "lines marked `review` in the source file"
    )


def run(
    project_dir: Path | None,
    select: list[str],
    threads: int | None,
    progress: bool,
    today: date | None = None,
) -> None:
    from civiclake.cli.render import RichReporter
    from civiclake.runner.progress import NullReporter
    from civiclake.runner.runner import Runner

    project = _project(project_dir)
    console = out.console()
    reporter = RichReporter(console) if progress and console.is_terminal else NullReporter()
    summary = Runner(project, threads=threads, reporter=reporter, today=today).run(
        select, command="run " + " ".join(f"--select {s}" for s in select)
    )
    print_summary(summary, project)
    if not summary.ok:
        sys.exit(1)


def list_nodes(project_dir: Path | None) -> None:
    from rich.table import Table

    from civiclake.runner.runner import Runner

    project = _project(project_dir)
    graph, names = Runner(project).plan()
    table = Table("step", "kind", "reads", "writes")
    for name in names:
        d = graph.nodes[name].definition
        table.add_row(
            name,
            d.kind,
            "\n".join(i.qualified for i in d.reads),
            "\n".join(o.qualified for o in d.writes),
        )
    out.console().print(table)


def runs_list(project_dir: Path | None, limit: int, fmt: str = "table") -> None:
    from rich.table import Table

    project = _project(project_dir)
    if fmt != "table":
        from dataclasses import asdict

        from civiclake.cli.render import print_records

        print_records([{**asdict(r), "seconds": r.seconds} for r in project.store.runs(limit)], fmt)
        return
    table = Table("id", "status", "started (UTC)", "time", "command", "error")
    for r in project.store.runs(limit):
        table.add_row(
            str(r.id),
            r.status,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            out.seconds(r.seconds),
            r.command,
            (r.error or "")[:80],
        )
    out.console(wide_when_piped=True).print(table)


def runs_show(project_dir: Path | None, run_id: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    from civiclake.exceptions import CivicLakeError

    project = _project(project_dir)
    record = project.store.run(run_id)
    if record is None:
        raise CivicLakeError(f"no run {run_id}; `civiclake runs` lists the recent ones")
    console = out.console()
    console.print(
        f"[bold]run {record.id}[/] {record.status} · {record.command} · started "
        f"{record.started_at:%Y-%m-%d %H:%M:%S} UTC · {out.seconds(record.seconds)}"
    )
    table = Table(
        "step",
        "status",
        "tries",
        "rows in",
        "rows out",
        "rejected",
        "read",
        "written",
        "peak mem",
        "spilled",
        "cpu",
        "time",
    )
    for s in project.store.steps(run_id):
        table.add_row(
            s.node,
            s.status,
            str(s.attempts),
            out.count(s.rows_in),
            out.count(s.rows_out),
            out.count(s.rows_rejected),
            out.size(s.bytes_read),
            out.size(s.bytes_written),
            out.size(s.peak_memory_bytes),
            out.size(s.spilled_bytes),
            out.seconds(s.cpu_seconds),
            out.seconds(s.seconds),
        )
    out.console(wide_when_piped=True).print(table)
    console.print(
        "cpu: the process's CPU time while the step ran (DuckDB's threads included; shared "
        "by steps that ran at the same time) · read: bytes read in that time · spilled: the "
        "most DuckDB had spilled to disk at once"
    )
    for s in project.store.steps(run_id):
        if s.error:
            console.print(f"[red]{escape(s.node)}[/]: {escape(s.error)}")
    console.print(f"Log: {record.log_path}")


def query(
    project_dir: Path | None,
    sql: str,
    fmt: str,
    output: Path | None,
    limit: int,
    user: str | None = None,
) -> None:
    from civiclake.query import run_query, write_result

    project = _project(project_dir)
    reader = run_query(project, sql, user=user)
    if fmt == "table" and output is None:
        table = _head(reader, limit)
        out.console(wide_when_piped=True).print(out.arrow_table(table, max_rows=limit))
        return
    if fmt == "table":
        fmt = "csv"
    rows = write_result(reader, fmt, output)
    if output is not None:
        out.console(stderr=True).print(f"wrote {rows:,} rows to {output}")


def _head(reader: pa.RecordBatchReader, limit: int) -> pa.Table:
    """The first batches of a result, enough for ``limit`` rows (the rest is not read)."""
    import pyarrow as pa

    batches, total = [], 0
    for batch in reader:
        batches.append(batch)
        total += batch.num_rows
        if total > limit:
            break
    return pa.Table.from_batches(batches, schema=reader.schema)


def datasets(project_dir: Path | None, fmt: str = "table") -> None:
    from rich.table import Table

    project = _project(project_dir)
    rows = project.store.datasets()
    if fmt != "table":
        from civiclake.cli.render import print_records

        keep = ("qualified_name", "department", "zone", "name", "row_count", "key", "producer")
        more = ("owner", "pii", "description", "version", "updated_at")
        print_records([{k: d.get(k) for k in (*keep, *more)} for d in rows], fmt)
        return
    table = Table("dataset", "zone", "department", "rows", "key", "produced by", "description")
    for d in rows:
        table.add_row(
            d["qualified_name"],
            d["zone"],
            d["department"],
            out.count(d["row_count"]),
            ", ".join(d["key"]),
            d["producer"] or "",
            _first_sentence(d["description"]),
        )
    out.console(wide_when_piped=True).print(table)
    pii = _pii_table(project, rows)
    if pii is not None:
        out.console(wide_when_piped=True).print(pii)


def _pii_table(project: Project, rows: list[dict[str, Any]]) -> Any:
    """Each dataset's PII columns and why, and the columns cleared with their reasons.

    ``declared`` is a source's or job's ``pii:``; ``from x.y`` was derived through a job's
    column lineage (``lineage unknown``: assumed, see docs/jobs.md). None without any PII,
    so a catalog without personal data lists as it always has.
    """
    from rich.table import Table

    store = project.store
    cleared = {(c.dataset, c.column): c for c in store.pii_clearances()}
    lines: list[tuple[str, str, str, str]] = []
    for d in rows:
        name = d["qualified_name"]
        sources: dict[str, list[str]] = {}
        unknown: set[str] = set()
        for edge in store.column_lineage(dataset=name) if d["pii"] else []:
            if edge.pii:
                sources.setdefault(edge.output_column, []).append(
                    f"{edge.input_dataset}.{edge.input_column}"
                )
                if not edge.resolved:
                    unknown.add(edge.output_column)
        declared: list[str] = []
        for column in d["pii"] or []:
            if column in unknown:
                why = "lineage unknown: assumed from every PII input column"
            elif column in sources:
                found = sources[column]
                why = "from " + ", ".join(found[:2]) + (" …" if len(found) > 2 else "")
            else:
                declared.append(column)  # one line for them all: a source may declare twenty
                continue
            lines.append((name, column, "masked", why))
        if declared:
            lines.append((name, ", ".join(declared), "masked", "declared"))
        for (dataset, column), c in cleared.items():
            if dataset == name:
                lines.append((name, column, "cleared", f"{c.reason} ({c.job})"))
    if not lines:
        return None
    table = Table("dataset", "column", "pii", "why", title="PII columns")
    for line in lines:
        table.add_row(*line)
    return table


def _first_sentence(text: str, limit: int = 60) -> str:
    sentence = text.split(". ")[0].strip()
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


# -- datasets prune (issue 11) ---------------------------------------------------------
def _interactive() -> bool:
    """Whether someone can answer the confirmation (a test replaces this)."""
    return sys.stdin.isatty()


def _base_name(name: str) -> str:
    """``x`` for ``x``, ``x__history`` and ``x__rejected``: companions go with their dataset."""
    from civiclake.naming import HISTORY_SUFFIX
    from civiclake.snapshots import REJECTED_SUFFIX

    for suffix in (HISTORY_SUFFIX, REJECTED_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _current_nodes(project: Project) -> list[Any]:
    """The sources and jobs as the files declare them now, or an error that stops the prune.

    A file that fails to load might be the producer of any dataset, so nothing can be
    called orphaned until it loads: a typo in a job must never delete the job's table.
    """
    from civiclake.exceptions import CivicLakeError
    from civiclake.runner.plan import discover
    from civiclake.steps import Broken

    nodes: list[Any] = []
    for kind, stage in (("source", "sources"), ("job", "jobs")):
        try:
            found = discover(project, [stage])
            broken = next((n for n in found if isinstance(n, Broken)), None)
            if broken is not None:
                raise broken.error
            nodes += found
        except Exception as exc:
            raise CivicLakeError(
                f"nothing was pruned: a {kind} file fails to load, so which datasets are still "
                f"produced cannot be told ({exc}). Fix that file (or delete it, if the "
                "dataset should go too), then run `civiclake datasets prune` again"
            ) from None
    return nodes


def _orphans(
    project: Project, nodes: list[Any]
) -> tuple[list[tuple[DatasetRef, list[dict[str, Any]]]], list[str]]:
    """Catalog datasets no current source or job produces, grouped by base dataset.

    A dataset is kept when its base is a current node's output, or when its recorded
    producer still exists (a source may write tables it does not declare up front), or
    when a current job reads it (dropping it would break that job; the job goes first).
    Returns the groups to drop (the base ref, its catalog rows) and notes on what is kept.
    """
    from civiclake.storage import DatasetRef

    definitions = [node.definition for node in nodes]
    produced = {(r.department, r.zone, r.name) for d in definitions for r in d.writes}
    read: dict[tuple[str, str, str], list[str]] = {}
    for d in definitions:
        for ref in d.reads:
            read.setdefault((ref.department, ref.zone, _base_name(ref.name)), []).append(d.name)
    names = {d.name for d in definitions}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in project.store.datasets():
        groups.setdefault((row["department"], row["zone"], _base_name(row["name"])), []).append(row)
    orphans, kept = [], []
    for base, rows in sorted(groups.items()):
        if base[1] == "landing" or base in produced:
            continue
        producers = {_producer(row) for row in rows}
        if None in producers or producers & names:
            continue
        ref = DatasetRef(*base)
        if base in read:
            kept.append(
                f"kept {ref.qualified}: no producer any more, but "
                f"{', '.join(sorted(set(read[base])))} still reads it; change or delete that "
                "job first"
            )
            continue
        orphans.append((ref, rows))
    return orphans, kept


def _producer(row: dict[str, Any]) -> str | None:
    """The node that wrote a catalog row (``history:x`` rows belong to x's producer)."""
    producer = row["producer"]
    if isinstance(producer, str) and producer.startswith("history:"):
        return "history"  # a companion: decided by its base dataset's other rows
    return producer if producer else None


def datasets_prune(project_dir: Path | None, yes: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from civiclake.exceptions import CivicLakeError

    project = _project(project_dir)
    console = out.console()
    nodes = _current_nodes(project)
    orphans, kept = _orphans(project, nodes)
    landing = (
        "The landing zone is never pruned: the original files under "
        f"{escape(project.layout.join('landing'))}/ stay (delete them by hand if they must go)."
    )
    for note in kept:
        console.print(note, markup=False)
    if not orphans:
        console.print("Nothing to prune: every dataset in the catalog has a current producer.")
        console.print(landing)
        return
    if not project.layout.is_local:
        raise CivicLakeError(
            f"nothing was pruned: storage.root {project.layout.root} is not a local folder, "
            "and prune deletes only local Delta tables for now; delete the folders of "
            + ", ".join(ref.qualified for ref, _ in orphans)
            + " with your storage's tools"
        )
    refs = [ref for ref, _ in orphans]
    warehouse: dict[str, list[str]] = {}
    if project.config.warehouse.url is not None:
        from civiclake.publish import drop_published

        warehouse = drop_published(project, refs, dry_run=True)
    table = Table(
        "dataset", "produced by (gone)", "would drop", title="Datasets no source or job produces"
    )
    for ref, rows in orphans:
        folders = sorted({_shown_path(project, row["uri"]) for row in rows})
        parts = [f"folder {f}" for f in folders]
        parts += [f"catalog row {row['qualified_name']}" for row in rows]
        parts += warehouse.get(ref.qualified, [])
        producers = sorted({row["producer"] for row in rows if _producer(row) != "history"})
        table.add_row(ref.qualified, ", ".join(producers), "\n".join(parts))
    console.print(table)
    console.print(landing)
    if not yes:
        if not _interactive():
            console.print(
                "Nothing was pruned: run `civiclake datasets prune --yes` to drop the above."
            )
            return
        import typer

        if not typer.confirm(f"Drop {out.plural(len(orphans), 'dataset')}?", default=False):
            console.print("Nothing was pruned.")
            sys.exit(1)
    if project.config.warehouse.url is not None:
        from civiclake.publish import drop_published

        drop_published(project, refs)  # first: if it fails, nothing local is touched
    for ref, rows in orphans:
        _drop_local(project, rows)
        console.print(f"Dropped {ref.qualified}", markup=False)


def _shown_path(project: Project, uri: str) -> str:
    try:
        return Path(uri).resolve().relative_to(project.dir).as_posix()
    except ValueError:
        return uri


def _drop_local(project: Project, rows: list[dict[str, Any]]) -> None:
    """A dataset's Delta folders, then its catalog rows, lineage, clearances and states.

    Folders first: if deleting one fails, the catalog still lists the dataset and the next
    prune finds it again; the other way round, its files would stay with nothing to find
    them by.
    """
    import shutil

    for uri in sorted({row["uri"] for row in rows}):
        if Path(uri).exists():
            shutil.rmtree(uri)
    project.catalog.forget([row["qualified_name"] for row in rows])


def warehouse_bootstrap(project_dir: Path | None) -> None:
    """Print the DBA's bootstrap SQL on stdout (pipeable to psql), what to do on stderr."""
    from civiclake.publish import bootstrap_script

    project = _project(project_dir)
    script = bootstrap_script(project)
    print(script, end="")
    out.console(stderr=True).print(
        "Hand this SQL to a DBA to run once as a superuser in the warehouse database, e.g. "
        "`civiclake warehouse bootstrap > bootstrap.sql` then `psql -v ON_ERROR_STOP=1 "
        "'dbname=…' -f bootstrap.sql`; then `civiclake publish`.",
        markup=False,
    )


def demo(directory: Path, force: bool, planning_days: int = 30) -> None:
    from civiclake.cli.render import RichReporter, print_demo
    from civiclake.demo import build_demo

    console = out.console()
    report = build_demo(
        directory,
        force=force,
        planning_days=planning_days,
        say=console.print,
        reporter=RichReporter(console) if console.is_terminal else None,
    )
    print_demo(report)


# -- history ------------------------------------------------------------------------
def _daily_tables(project: Project) -> list[tuple[Any, str]]:
    """(source, table) for every table of the sources that can backfill and replay history."""
    from civiclake.runner.plan import discover
    from civiclake.steps import Backfillable, Replayable

    found = []
    for node in discover(project, ["sources"]):
        caps = node.definition.capabilities
        if caps.backfill and caps.replay:
            assert isinstance(node, Backfillable) and isinstance(node, Replayable)
            found += [(node, table) for table in node.replay_tables()]
    return found


def _keyed_dataset(project: Project, dataset: str) -> tuple[Any, str, DatasetRef]:
    """The source writing keyed ``dataset``, its table name there, and the dataset."""
    from civiclake.exceptions import ConfigError

    ref = project.parse_dataset(dataset)
    if ref is None:
        raise ConfigError(
            f"{dataset!r} is not a dataset name; write <department>_<zone>.<name>, "
            "e.g. planning_refined.applications (`civiclake datasets` lists them)"
        )
    for node, table in _daily_tables(project):
        if node.dataset(table) == ref:
            return node, table, ref
    raise ConfigError(
        f"no source keeps the history of {ref.qualified}: only datasets of daily sources "
        "(e.g. planning_api) can be rebuilt from landing"
    )


def _run_action(
    project: Project,
    name: str,
    department: str,
    action: Any,
    command: str,
    *,
    writes: Sequence[DatasetRef] = (),
) -> None:
    from civiclake.runner.runner import Runner
    from civiclake.steps import Action

    step = Action(name=name, department=department, action=action, writes=list(writes))
    summary = Runner(project, threads=1).run(command=command, nodes=[step])
    print_summary(summary, project)
    if not summary.ok:
        sys.exit(1)


def history_rebuild(project_dir: Path | None, dataset: str) -> None:
    from civiclake.snapshots import rebuild
    from civiclake.steps import Counts

    project = _project(project_dir)
    source, table, ref = _keyed_dataset(project, dataset)

    def action(ctx: RunContext) -> Counts:
        batches = rebuild(
            project.catalog,
            ref,
            source.history_spec(table),
            source.replay(table),
            producer=source.name,
            import_id=ctx.import_id,
        )
        return Counts(notes=[f"{ref.qualified} rebuilt from {batches} landing batches"])

    _run_action(
        project,
        f"{ref.department}/rebuild-{ref.name}",
        ref.department,
        action,
        f"history rebuild {ref.qualified}",
        writes=[ref],
    )


def history_compact(project_dir: Path | None, dataset: str) -> None:
    from civiclake.snapshots import compact
    from civiclake.steps import Counts

    project = _project(project_dir)
    ref = project.parse_dataset(dataset)
    if ref is None:
        from civiclake.exceptions import ConfigError

        raise ConfigError(f"{dataset!r} is not a dataset name (e.g. planning_refined.applications)")

    def action(ctx: RunContext) -> Counts:
        done = compact(project.catalog, ref)
        what = "compacted" if done else "nothing to compact (no recent versions)"
        return Counts(notes=[f"{ref.qualified}: {what}"])

    # a run like any other: it waits for (and holds) the dataset's lease, so it never
    # folds a table another run is writing
    _run_action(
        project,
        f"{ref.department}/compact-{ref.name}",
        ref.department,
        action,
        f"history compact {ref.qualified}",
        writes=[ref],
    )


def backfill(project_dir: Path | None, name: str, start: date, end: date) -> None:
    from civiclake.exceptions import ConfigError

    project = _project(project_dir)
    department, _, table = name.partition("/")
    department = project.require_department(department)
    if end < start:
        raise ConfigError(f"--to {end} is before --from {start}")
    for node, name in _daily_tables(project):
        if node.definition.department == department and name == table:
            source = node
            break
    else:
        raise ConfigError(
            f"no daily source in {department} has a table {table!r}; "
            "backfill works on planning_api tables, e.g. planning/applications"
        )

    def action(ctx: RunContext) -> Any:
        return source.backfill(ctx, table, start, end)

    _run_action(
        project,
        f"{department}/backfill-{table}",
        department,
        action,
        f"backfill {name} --from {start} --to {end}",
    )
