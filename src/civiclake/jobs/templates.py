"""``civiclake new job``: write a job file that runs as written, with comments.

The template reads a dataset the department already has (raw first), listing
its columns, so the analyst edits a working query instead of a blank page.
With no dataset yet, it selects constants and shows the FROM as a comment:
a template must never name a table that does not exist, or every run of the
project would stop at "unknown table" until it is edited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from civiclake.jobs.exceptions import JobDefinitionError
from civiclake.jobs.loader import JOB_SUFFIXES
from civiclake.naming import TABLE_ZONES, schema_name, snake_case

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.storage import DatasetRef

Template = Literal["sql", "python"]

_SQL = """\
-- zone: {zone}
-- materialize: table
-- description: {description}
{owner}--
-- This file is the job {job}; it writes the dataset {output}
-- (named after the file). The `-- key: value` lines at the very top set its options:
--   zone         refined | trusted
--   key          columns identifying one row, comma-separated (e.g. account_ref)
--   materialize  table (replace each run) | append (add the result once per new
--                state of the inputs)
--                | incremental (upsert by key; needs key)
--   description, owner, pii (comma-separated columns holding personal data)
--   pii_cleared  {{column: "reason"}}: a column derived from an input's PII that is
--                not personal data (output columns derived from PII are PII)
-- Inputs are the tables the query names, as <department>_<zone>.<table>;
-- civiclake works out the order jobs run in from them. Lineage columns
-- (_import_id, _imported_at) are added for you.
-- Try the query with `civiclake query`, then run it: `civiclake run {job}`.

{query}
"""

_PYTHON = '''\
"""{job}: writes {output} (named after this file).

Inputs arrive as DuckDB relations, one argument per entry of `inputs`, in order.
Return a pyarrow Table, a DuckDB relation or a polars DataFrame; civiclake adds
the lineage columns (_import_id, _imported_at) and writes the dataset.
Run it with `civiclake run {job}`.
"""

from civiclake import job


@job(
    inputs={inputs},
    zone="{zone}",
    materialize="table",  # table | append | incremental (upsert by key=[...])
    # key=["id"],         # columns identifying one row
    # pii=["name"],       # columns holding personal data
    # derives={{"name": ["housing_raw.x.name"], "total": []}},  # where columns come from;
    #                     # undeclared ones are PII when an input has PII (docs/jobs.md)
    # pii_cleared={{"initials": "first letters only"}},  # derived from PII, not personal
    description="{description}",
)
def {function}({params}):
    """{description}"""
{body}
'''


def new_job(
    project: Project, name: str, template: Template | str = "sql", *, zone: str = "refined"
) -> Path:
    """Write ``jobs/<department>/<name>.<sql|py>`` and return its path."""
    department_part, slash, job_part = name.strip().strip("/").partition("/")
    if not slash or not job_part:
        raise JobDefinitionError(
            f"job name {name!r} needs its department: <department>/<name>, "
            "e.g. planning/applications_clean"
        )
    if template not in ("sql", "python"):
        raise JobDefinitionError(f"unknown template {template!r}; use sql or python")
    if zone not in TABLE_ZONES[1:]:
        raise JobDefinitionError(f"a job writes the refined or trusted zone, not {zone!r}")
    department = project.require_department(department_part)
    stem = snake_case(job_part)
    folder = project.dir / "jobs" / department
    for suffix in JOB_SUFFIXES:
        existing = folder / f"{stem}{suffix}"
        if existing.exists():
            raise JobDefinitionError(
                f"{existing.relative_to(project.dir).as_posix()} already exists; "
                "edit it, or choose another name"
            )
    source = _template_input(project, department)
    output = f"{schema_name(department, zone)}.{stem}"
    fields = {
        "job": f"{department}/{stem}",
        "output": output,
        "zone": zone,
        "description": f"TODO: what one row of {output} is, for the people who read it.",
    }
    if template == "sql":
        owner = next((d.owner for d in project.config.departments if d.id == department), "")
        text = _SQL.format(
            owner=f"-- owner: {owner}\n" if owner else "", query=_query(project, source), **fields
        )
        path = folder / f"{stem}.sql"
    else:
        text = _python(source, stem, fields)
        path = folder / f"{stem}.py"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _template_input(project: Project, department: str) -> DatasetRef | None:
    """A dataset to start from: the department's own (raw first), else a shared one."""
    refs = project.catalog.datasets()
    for dept in (department, "unrestricted"):
        for zone in TABLE_ZONES:
            found = sorted(r for r in refs if r.department == dept and r.zone == zone)
            if found:
                return found[0]
    return None


def _query(project: Project, source: DatasetRef | None) -> str:
    if source is None:
        return (
            "-- No dataset exists yet to read from: load one with a source, then replace\n"
            "-- this placeholder with e.g. SELECT * FROM unrestricted_raw.wards\n"
            "SELECT 1 AS id, 'replace me' AS example"
        )
    row = project.store.dataset(source.qualified) or {}
    columns = [c["name"] for c in row.get("columns") or [] if not c["name"].startswith("_")]
    listed = ",\n    ".join(_quoted(c) for c in columns) or "*"
    return (
        f"-- Pick, rename and cast the columns you need; filter with WHERE.\n"
        f"SELECT\n    {listed}\nFROM {source.qualified}"
    )


def _python(source: DatasetRef | None, function: str, fields: dict[str, str]) -> str:
    if source is None:
        inputs: list[str] = []
        params = ""
        body = (
            "    # No dataset exists yet to read from: add one to inputs (e.g.\n"
            '    # "unrestricted_raw.wards"), take it as an argument and transform it.\n'
            "    import pyarrow as pa\n\n"
            '    return pa.table({"id": [1], "example": ["replace me"]})'
        )
    else:
        inputs = [source.qualified]
        params = source.name
        body = (
            "    # A DuckDB relation: .filter(), .project(), .aggregate(), .join() build SQL\n"
            "    # lazily; nothing is read until civiclake writes the result.\n"
            f'    return {source.name}.project("*")'
        )
    return _PYTHON.format(
        inputs=json.dumps(inputs), function=function, params=params, body=body, **fields
    )


def _quoted(column: str) -> str:
    from civiclake.naming import is_identifier, quote

    return column if is_identifier(column) else quote(column)
