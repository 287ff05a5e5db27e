"""Python jobs: one ``@job``-decorated function per ``jobs/<department>/<name>.py``.

::

    from civiclake import job

    @job(inputs=["parking_refined.permits", "unrestricted_raw.wards"], zone="trusted")
    def permits_by_ward(permits, wards):
        return permits.join(wards, "ward_code").aggregate("ward_code, count(*) AS permits")

A Python function cannot be traced the way SQL is, so a job reading PII says
where its columns come from with ``derives={"ward_code": ["parking_refined.permits.ward_code"],
"permits": []}``; a column it does not declare derives from every PII column
of its inputs (see :mod:`civiclake.jobs.pii`).

The function receives its inputs as the engine's native frames (DuckDB
relations on one machine), in the order of ``inputs``, and returns a pyarrow
Table, a DuckDB relation or a polars/pandas frame. The decorator only records
a :class:`JobSpec`; the file is imported when jobs are discovered, so every
error shows up before anything runs. This module imports nothing heavy: it is
imported by ``import civiclake`` (and so by ``civiclake --help``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from civiclake.exceptions import Transient
from civiclake.jobs.base import Job
from civiclake.jobs.exceptions import JobDefinitionError, JobError

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.jobs.pii import Derivation, InputColumns
    from civiclake.project import Project
    from civiclake.steps import RunContext

F = TypeVar("F", bound=Callable[..., Any])
_SPEC_ATTR = "__civiclake_job__"


@dataclass(frozen=True)
class JobSpec:
    """What ``@job(...)`` recorded about a function; validated when the file is loaded."""

    function: Callable[..., Any]
    inputs: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    derives: Mapping[str, Sequence[str] | str] | None = None
    """Output column → the ``schema.dataset.column`` inputs it derives from."""


def job(
    _function: Callable[..., Any] | None = None,
    /,
    *,
    inputs: Sequence[str] = (),
    output: str | None = None,
    zone: str = "refined",
    key: Sequence[str] | str = (),
    materialize: str = "table",
    description: str = "",
    owner: str = "",
    pii: Sequence[str] | str = (),
    pii_cleared: Mapping[str, str] | None = None,
    derives: Mapping[str, Sequence[str] | str] | None = None,
    freshness: str | None = None,
) -> Callable[[F], F]:
    """Declare a function as this file's job (see the module docstring).

    ``output`` defaults to the file's name; ``description`` to the first line of
    the function's docstring. Options mean what they mean in a SQL job's header.
    ``derives`` maps output columns to the input columns they come from
    (``[]``: from none, e.g. a count); ``pii_cleared`` maps PII-derived output
    columns to the reason they are not personal data.
    """
    if _function is not None:
        raise JobDefinitionError(
            "@job needs its arguments: write @job(inputs=['housing_raw.rent_accounts']) "
            "above the function, not a bare @job"
        )
    if isinstance(inputs, str):
        inputs = [inputs]

    def decorate(function: F) -> F:
        import inspect

        doc = inspect.getdoc(function) or ""
        options: dict[str, Any] = {
            "zone": zone,
            "key": key,
            "materialize": materialize,
            "description": description or doc.split("\n\n")[0].replace("\n", " "),
            "owner": owner,
            "pii": pii,
            "pii_cleared": dict(pii_cleared or {}),
            "freshness": freshness,
        }
        spec = JobSpec(function, tuple(inputs), options, output, derives)
        setattr(function, _SPEC_ATTR, spec)
        return function

    return decorate


class PythonJob(Job):
    """A job defined by one decorated Python function."""

    language: ClassVar[str] = "python"

    def __init__(
        self,
        *args: Any,
        function: Callable[..., Any],
        derives: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.function = function
        self.derives = dict(derives or {})

    @classmethod
    def load(cls, project: Project, department: str, path: Path) -> PythonJob:
        """Import ``path`` and validate its one ``@job`` function."""
        from civiclake.jobs.options import parse_options
        from civiclake.jobs.references import output_ref, resolve_input

        where = path.resolve().relative_to(project.dir).as_posix()
        spec = _find_spec(path, where)
        line = spec.function.__code__.co_firstlineno
        at = f"{where}, line {line}"
        options = parse_options(spec.options, where=at)
        inputs = [resolve_input(project, name, where=at) for name in spec.inputs]
        if len(set(inputs)) != len(inputs):
            raise JobDefinitionError(f"{at}: inputs={list(spec.inputs)} names a dataset twice")
        _check_arity(spec, len(inputs), at)
        output = output_ref(project, department, options.zone, spec.output or path.stem, where=at)
        derives = _check_derives(spec, [ref.qualified for ref in inputs], at)
        return cls(
            project,
            department,
            path,
            options,
            inputs,
            output,
            function=spec.function,
            derives=derives,
        )

    def column_lineage(
        self, inputs: Mapping[str, InputColumns], output: Sequence[str]
    ) -> dict[str, Derivation]:
        """As declared with ``derives=``; undeclared columns are unresolved."""
        from civiclake.jobs.pii import declared_lineage

        return declared_lineage(self.derives, inputs, output, where=self._at)

    def cleared_where(self) -> dict[str, str]:
        return dict.fromkeys(self.options.pii_cleared, self._at)

    @property
    def _at(self) -> str:
        return f"{self.location}, line {self.function.__code__.co_firstlineno}"

    def compute(self, ctx: RunContext) -> pa.RecordBatchReader:
        frames = [ctx.session.frame(ref) for ref in self.inputs]
        try:
            value = self.function(*frames)
        except (Transient, JobError):
            raise
        except Exception as exc:
            raise JobError(
                f"{self.location}{_line_in(exc, self.path)}: {self.function.__name__}() raised "
                f"{type(exc).__name__}: {exc} (the run's log has the traceback)"
            ) from exc
        if value is None:
            raise JobError(
                f"{self.location}: {self.function.__name__}() returned None; return the "
                "result (a pyarrow Table, DuckDB relation or polars frame)"
            )
        return ctx.session.to_arrow(value)


def _line_in(exc: BaseException, path: Path) -> str:
    """``, line 12 (`total = a / b`)``: the deepest frame of the job's own file."""
    import traceback

    here = path.resolve()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == here]
    if not frames:
        return ""
    frame = frames[-1]
    code = f" (`{frame.line.strip()}`)" if frame.line else ""
    return f", line {frame.lineno}{code}"


def _find_spec(path: Path, where: str) -> JobSpec:
    """Import the file under a unique module name and find its one ``@job`` function."""
    import hashlib
    import importlib.util

    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"civiclake_job_{path.stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise JobDefinitionError(f"{where}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    try:
        module_spec.loader.exec_module(module)
    except JobDefinitionError as exc:
        raise JobDefinitionError(f"{where}: {exc}") from None
    except SyntaxError as exc:
        raise JobDefinitionError(
            f"{where}, line {exc.lineno}: Python syntax error: {exc.msg}"
        ) from None
    except Exception as exc:
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        at = f"{where}, line {line}" if line else where
        raise JobDefinitionError(
            f"{at}: importing the job failed: {type(exc).__name__}: {exc}"
        ) from exc
    specs = [
        spec
        for value in vars(module).values()
        if (spec := getattr(value, _SPEC_ATTR, None)) is not None
        and getattr(value, "__module__", None) == module_name
    ]
    if not specs:
        raise JobDefinitionError(
            f"{where}: no @job function found; decorate one function with "
            "@job(inputs=[...]) (from civiclake import job)"
        )
    if len(specs) > 1:
        names = ", ".join(s.function.__name__ for s in specs)
        raise JobDefinitionError(
            f"{where}: {len(specs)} @job functions ({names}); a file holds exactly one job, "
            "so move the others into their own files"
        )
    return specs[0]


def _check_arity(spec: JobSpec, count: int, at: str) -> None:
    """The function must take one positional argument per input, in order."""
    import inspect

    signature = inspect.signature(spec.function)
    try:
        signature.bind(*range(count))
    except TypeError:
        params = ", ".join(signature.parameters)
        raise JobDefinitionError(
            f"{at}: {spec.function.__name__}({params}) must take {count} argument(s), one per "
            f"input in the order of inputs={list(spec.inputs)}"
        ) from None


def _check_derives(spec: JobSpec, inputs: Sequence[str], at: str) -> dict[str, list[str]]:
    """``derives=`` in its one shape: column → ``schema.dataset.column`` of a listed input.

    Whether the columns exist is checked when the job runs, against the catalog.
    """
    from civiclake.config.suggest import did_you_mean
    from civiclake.naming import is_identifier

    if spec.derives is None:
        return {}
    if not isinstance(spec.derives, Mapping):
        raise JobDefinitionError(
            f"{at}: derives= is a mapping of output column to the input columns it comes "
            "from, e.g. derives={'ward_code': ['parking_refined.permits.ward_code']}"
        )
    result: dict[str, list[str]] = {}
    for column, sources in spec.derives.items():
        if not isinstance(column, str) or not is_identifier(column):
            raise JobDefinitionError(
                f"{at}: derives: {column!r} is not a column name; columns are lowercase "
                "snake_case (e.g. account_ref)"
            )
        listed = [sources] if isinstance(sources, str) else list(sources)
        for source in listed:
            dataset, _, name = str(source).lower().rpartition(".")
            if dataset not in inputs or not name:
                raise JobDefinitionError(
                    f"{at}: derives[{column!r}] names {source!r}; write "
                    f"<department>_<zone>.<dataset>.<column> of one of inputs={list(inputs)}"
                    f"{did_you_mean(dataset, inputs)}"
                )
        result[column] = [str(s).lower() for s in listed]
    return result
