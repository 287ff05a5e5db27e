"""SQL jobs: ``jobs/<department>/<name>.sql``, one SELECT plus a header.

::

    -- zone: refined
    -- key: account_ref
    -- materialize: table
    -- description: Rent accounts, one row per account, typed and cleaned.
    SELECT … FROM housing_raw.rent_accounts JOIN unrestricted_raw.wards USING (ward_code)

The header is the leading block of ``-- key: value`` lines; it ends at the
first line that is not one (a blank line, a plain comment, the query).
``-- pii_cleared: {column: reason}`` (a YAML mapping, may repeat) clears an
output column that derives from PII (see :mod:`civiclake.jobs.pii`). The
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
    from collections.abc import Mapping, Sequence

    import pyarrow as pa
    from sqlglot import exp

    from civiclake.jobs.pii import Derivation, InputColumns
    from civiclake.project import Project
    from civiclake.sql import SqlRejected
    from civiclake.steps import RunContext
    from civiclake.storage import DatasetRef

_HEADER_LINE = re.compile(r"^--\s*([A-Za-z][\w-]*)\s*:\s*(.*?)\s*$")
_CONCATENATED = {"description"}
"""Header keys that may repeat; their lines are joined (a long description)."""
_CLEARED = "pii_cleared"
_CLEARED_EXAMPLE = '`-- pii_cleared: {tenancies: "counted per ward"}`'


def parse_cleared(value: str, *, where: str) -> dict[str, str]:
    """One ``pii_cleared`` line: a YAML mapping of column to reason, in braces or not.

    ``{tenancies: counted per ward, total: "summed, per ward"}`` and
    ``tenancies: counted per ward`` both work; anything else is an error at ``where``.
    """
    import yaml

    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise JobDefinitionError(
            f"{where}: pii_cleared does not parse ({problem}); write a mapping of column to "
            f"reason, e.g. {_CLEARED_EXAMPLE} (quote a reason holding , : {{ or }})"
        ) from None
    if not isinstance(parsed, dict) or not parsed:
        raise JobDefinitionError(
            f"{where}: pii_cleared needs column: reason pairs, e.g. {_CLEARED_EXAMPLE}; "
            f"got {value.strip()!r}. Every cleared column says why it is not personal data"
        )
    for column, reason in parsed.items():
        if not isinstance(reason, str) or not reason.strip():
            raise JobDefinitionError(
                f"{where}: pii_cleared: {column} has no reason in words ({reason!r}); say why "
                f"it is not personal data, e.g. {_CLEARED_EXAMPLE}"
            )
    return {str(column): reason.strip() for column, reason in parsed.items()}


def parse_header(text: str, *, where: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The header's ``{key: value}`` and ``{key: line number}`` (1-based).

    ``pii_cleared`` may repeat (one long reason per line reads better); its value is
    the merged ``{column: reason}`` and each column's line is ``pii_cleared.<column>``.
    """
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() and not values:
            continue  # blank lines before the header
        match = _HEADER_LINE.match(line.strip())
        if match is None:
            break
        key, value = match.group(1).lower().replace("-", "_"), match.group(2)
        if key == _CLEARED:
            cleared = values.setdefault(key, {})
            for column, reason in parse_cleared(value, where=f"{where}, line {number}").items():
                if column in cleared:
                    first = lines[f"{key}.{column}"]
                    raise JobDefinitionError(
                        f"{where}, line {number}: {column} is cleared twice (first on line "
                        f"{first}); keep one reason"
                    )
                cleared[column] = reason
                lines[f"{key}.{column}"] = number
            lines.setdefault(key, number)
            continue
        if key in values and key not in _CONCATENATED:
            raise JobDefinitionError(
                f"{where}, line {number}: `{key}` is set twice (first on line {lines[key]}); "
                "keep one"
            )
        values[key] = f"{values[key]} {value}".strip() if key in values else value
        lines.setdefault(key, number)
    return values, lines


def parse_query(text: str, *, where: str) -> exp.Query:
    """The file's one SELECT/WITH query (:func:`civiclake.sql.parse_query`'s rules, the
    same as every door's); anything else is refused with the reason and the fix."""
    from civiclake.sql import SqlRejected
    from civiclake.sql import parse_query as parse_one_query

    try:
        return parse_one_query(text)
    except SqlRejected as exc:
        raise JobDefinitionError(_job_advice(exc, where)) from None


def _job_advice(exc: SqlRejected, where: str) -> str:
    details = exc.details
    if exc.code == "parse_error":
        line = details.get("line")
        at = f", line {line}, column {details.get('column')}" if line else ""
        return (
            f"{where}{at}: the SQL does not parse: {details.get('reason') or exc}. Check it "
            "with `civiclake query` or fix the syntax near that point"
        )
    if exc.code == "one_statement":
        if not details.get("statements"):
            return f"{where}: no query found; write one SELECT after the header"
        return (
            f"{where}: found {details['statements']} statements; a job is exactly one query "
            "(use WITH … AS (…) for intermediate steps, or split it into several jobs)"
        )
    if exc.code == "not_a_query" and "kind" in details:
        return (
            f"{where}: a job is one SELECT (or WITH … SELECT) query, not {details['kind']}. "
            "civiclake stores the result itself: keep only the SELECT and set how it is "
            "written with `-- materialize: table|append|incremental`"
        )
    return f"{where}: {exc}"


def table_names(query: exp.Query) -> list[str]:
    """Datasets read by ``query`` as ``schema.table``, leaving out CTEs and table functions.

    Relations are resolved by scope (:mod:`civiclake.sql`), so a CTE hides a name
    only where it is visible. ``x__history`` and ``x_as_of(…)`` read keyed dataset ``x``.
    Unqualified names no CTE explains are returned bare, for the job to explain.
    """
    from civiclake.sql import resolve_relations

    names: set[str] = set()
    for relation in resolve_relations(query, strict=False):
        if relation.kind == "dataset":
            names.add(relation.qualified)
        elif relation.kind == "unqualified":
            names.add(relation.name)
    return sorted(names)


class SqlJob(Job):
    """A job defined by one SQL file."""

    language: ClassVar[str] = "sql"

    def __init__(
        self, *args: Any, sql: str, cleared_lines: dict[str, int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sql = sql
        self._cleared_lines = dict(cleared_lines or {})

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
        prefix = f"{_CLEARED}."
        cleared_lines = {
            k.removeprefix(prefix): n for k, n in lines.items() if k.startswith(prefix)
        }
        return cls(
            project,
            department,
            path,
            options,
            inputs,
            output,
            sql=text,
            cleared_lines=cleared_lines,
        )

    def compute(self, ctx: RunContext) -> pa.RecordBatchReader:
        return ctx.session.sql(self.sql)

    def lineage_tables(self) -> list[str]:
        """Tables as the SQL names them: ``x__history`` has columns of its own."""
        from civiclake.jobs.pii import sql_tables

        return sql_tables(parse_query(self.sql, where=self.location))

    def column_lineage(
        self, inputs: Mapping[str, InputColumns], output: Sequence[str]
    ) -> dict[str, Derivation]:
        """Traced by sqlglot through the query (see :func:`civiclake.jobs.pii.sql_lineage`)."""
        from civiclake.jobs.pii import sql_lineage

        return sql_lineage(parse_query(self.sql, where=self.location), inputs, output)

    def cleared_where(self) -> dict[str, str]:
        return {c: f"{self.location}, line {n}" for c, n in self._cleared_lines.items()}

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
