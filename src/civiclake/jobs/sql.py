"""SQL jobs: ``jobs/<department>/<name>.sql``, one SELECT plus a header.

::

    -- zone: refined
    -- key: account_ref
    -- materialize: table
    -- description: Rent accounts, one row per account, typed and cleaned.
    SELECT … FROM housing_raw.rent_accounts JOIN unrestricted_raw.wards USING (ward_code)

The header is the leading block of ``-- key: value`` lines; it ends at the
first line that is not one (a blank line, a plain comment, the query). The
query's inputs are every ``schema.table`` it names that is not a CTE — found
by parsing it with sqlglot, so nobody declares dependencies by hand. The file
runs as written (comments and all), never regenerated, so what an analyst
tests in ``civiclake query`` is what runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from civiclake.jobs.base import Job
from civiclake.jobs.exceptions import JobDefinitionError
from civiclake.jobs.options import parse_options
from civiclake.jobs.references import (
    cross_department_error,
    output_ref,
    resolve_input,
    suggest_dataset,
    unqualified_error,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp

    from civiclake.project import Project
    from civiclake.runner.context import RunContext
    from civiclake.storage import DatasetRef

_HEADER_LINE = re.compile(r"^--\s*([A-Za-z][\w-]*)\s*:\s*(.*?)\s*$")
_CONCATENATED = {"description"}
"""Header keys that may repeat; their lines are joined (a long description)."""


def parse_header(text: str, *, where: str) -> tuple[dict[str, str], dict[str, int]]:
    """The header's ``{key: value}`` and ``{key: line number}`` (1-based)."""
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() and not values:
            continue  # blank lines before the header
        match = _HEADER_LINE.match(line.strip())
        if match is None:
            break
        key, value = match.group(1).lower().replace("-", "_"), match.group(2)
        if key in values and key not in _CONCATENATED:
            raise JobDefinitionError(
                f"{where}, line {number}: `{key}` is set twice (first on line {lines[key]}); "
                "keep one"
            )
        values[key] = f"{values[key]} {value}".strip() if key in values else value
        lines.setdefault(key, number)
    return values, lines


def parse_query(text: str, *, where: str) -> exp.Query:
    """The file's one SELECT/WITH query; anything else is refused with the reason."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        at = f", line {first.get('line')}, column {first.get('col')}" if first else ""
        reason = str(first.get("description") or exc).split("<Token")[0].strip()
        raise JobDefinitionError(
            f"{where}{at}: the SQL does not parse: {reason}. Check it with "
            "`civiclake query` or fix the syntax near that point"
        ) from None
    except TokenError as exc:
        raise JobDefinitionError(
            f"{where}: the SQL does not parse: {exc} (an unclosed quote or comment?)"
        ) from None
    if not statements:
        raise JobDefinitionError(f"{where}: no query found; write one SELECT after the header")
    if len(statements) > 1:
        raise JobDefinitionError(
            f"{where}: found {len(statements)} statements; a job is exactly one query "
            "(use WITH … AS (…) for intermediate steps, or split it into several jobs)"
        )
    query = statements[0]
    if not isinstance(query, exp.Query):
        kind = query.key.upper()
        raise JobDefinitionError(
            f"{where}: a job is one SELECT (or WITH … SELECT) query, not {kind}. "
            "civiclake stores the result itself: keep only the SELECT and set how it is "
            "written with `-- materialize: table|append|incremental`"
        )
    return query


def table_names(query: exp.Query) -> list[str]:
    """Datasets read by ``query`` as ``schema.table``, leaving out CTEs and table functions.

    ``x__history`` and ``x_as_of(…)`` read keyed dataset ``x``.
    """
    from sqlglot import exp

    from civiclake.naming import dataset_read

    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    names: set[str] = set()
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.Anonymous) and table.db:
            name = table.this.name
            if dataset_read(name, call=True) != name:  # x_as_of(DATE '…')
                names.add(f"{table.db}.{dataset_read(name, call=True)}")
            continue
        if not isinstance(table.this, exp.Identifier):
            continue  # range(10), read_parquet(…): not a dataset
        if not table.db:
            if table.name.lower() in ctes:
                continue
            names.add(table.name)
        else:
            parts = (table.catalog, table.db, dataset_read(table.name))
            names.add(".".join(p for p in parts if p))
    return sorted(names)


class SqlJob(Job):
    """A job defined by one SQL file."""

    language: ClassVar[str] = "sql"

    def __init__(self, *args: Any, sql: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql = sql

    @classmethod
    def load(cls, project: Project, department: str, path: Path) -> SqlJob:
        """Parse and validate ``path``; every problem is a JobDefinitionError naming it."""
        where = _relative(project, path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise JobDefinitionError(f"{where}: not UTF-8 text ({exc.reason})") from None
        values, lines = parse_header(text, where=where)
        _check_department_keys(project, department, values, lines, where=where)
        options = parse_options(values, where=where, lines=lines)
        query = parse_query(text, where=where)
        inputs = [_input(project, name, department, where) for name in table_names(query)]
        output = output_ref(project, department, options.zone, path.stem, where=where)
        return cls(project, department, path, options, inputs, output, sql=text)

    def compute(self, ctx: RunContext) -> pa.RecordBatchReader:
        return ctx.session.sql(self.sql)

    def transpile(self, to: str = "spark") -> str:
        """This job's SQL in another engine's dialect (see :mod:`civiclake.jobs.portable`)."""
        from civiclake.jobs.portable import transpile

        return transpile(self.sql, to=to, where=self.location)


def _input(project: Project, name: str, department: str, where: str) -> DatasetRef:
    if "." not in name:
        raise JobDefinitionError(unqualified_error(project, name, department, where))
    if name.count(".") > 1:
        raise JobDefinitionError(
            f"{where}: table {name} has a catalog part; write it as "
            "<department>_<zone>.<name>" + suggest_dataset(project, name)
        )
    return resolve_input(project, name, where=where)


def _check_department_keys(
    project: Project, department: str, values: dict[str, str], lines: dict[str, int], where: str
) -> None:
    """A job always writes into its folder's department: refuse headers that say otherwise."""
    if "department" in values:
        named = values.pop("department")
        at = f"{where}, line {lines['department']}"
        if project.require_department(named, where=at) != department:
            raise cross_department_error(at, department, f"{named} datasets")
    for key in ("output", "schema"):
        if key in values:
            at = f"{where}, line {lines[key]}"
            ref = project.parse_dataset(values[key]) or project.parse_dataset(f"{values[key]}.x")
            if ref is not None and ref.department != department:
                raise cross_department_error(at, department, values[key])
            raise JobDefinitionError(
                f"{at}: a SQL job's dataset is named after its file and its zone is set "
                f"with `-- zone:`; remove `-- {key}:` and rename the file instead"
            )


def _relative(project: Project, path: Path) -> str:
    try:
        return path.resolve().relative_to(project.dir).as_posix()
    except ValueError:
        return str(path)
