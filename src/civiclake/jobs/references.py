"""Turning the table names a job uses into datasets, with suggestions.

Jobs name datasets the way analysts see them in SQL, ``<department>_<zone>.<name>``.
A name that matches no department and zone is almost always a typo, so the
error offers the closest dataset the project knows about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from civiclake.config.suggest import closest
from civiclake.jobs.exceptions import JobDefinitionError
from civiclake.naming import TABLE_ZONES, is_identifier, schema_name
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    from civiclake.project import Project


def resolve_input(project: Project, qualified: str, *, where: str) -> DatasetRef:
    """``housing_raw.rent_accounts`` → its DatasetRef, or an error naming the closest one."""
    ref = project.parse_dataset(qualified)
    if ref is not None:
        return ref
    hint = suggest_dataset(project, qualified)
    raise JobDefinitionError(
        f"unknown table {qualified} in {where}{hint}. Tables are named "
        f"<department>_<zone>.<dataset> with zone one of {', '.join(TABLE_ZONES)} "
        f"and department one of {', '.join(project.departments)}"
    )


def suggest_dataset(project: Project, qualified: str) -> str:
    """`` (did you mean housing_raw.x?)`` from the catalog and every schema, or ``""``."""
    name = qualified.rpartition(".")[2].lower()
    candidates = {ref.qualified for ref in project.catalog.datasets()}
    candidates.update(
        f"{schema_name(d, z)}.{name}" for d in project.departments for z in TABLE_ZONES
    )
    match = closest(qualified.lower(), sorted(candidates))
    return f" (did you mean {match}?)" if match else ""


def unqualified_error(project: Project, name: str, department: str, where: str) -> str:
    """What to write instead of a bare ``FROM rent_accounts``: a dataset of that name."""
    same_name = sorted(
        (ref.department != department, ref.qualified)
        for ref in project.catalog.datasets()
        if ref.name == name.lower()
    )
    hint = f" (did you mean {same_name[0][1]}?)" if same_name else ""
    return (
        f"{where}: table {name} has no schema{hint}; write it as "
        f"<department>_<zone>.{name}, e.g. {schema_name(department, 'raw')}.{name}"
    )


def cross_department_error(where: str, department: str, target: str) -> JobDefinitionError:
    """The one message for a job trying to write outside its own department."""
    return JobDefinitionError(
        f"{where}: a job in jobs/{department}/ writes only {department} datasets, "
        f"not {target}. Move the file to jobs/<department>/ of the department that "
        "owns the result"
    )


def output_ref(
    project: Project,
    department: str,
    zone: str,
    output: str,
    *,
    where: str,
) -> DatasetRef:
    """The dataset a job writes: ``output`` is a bare name or a name in its own department.

    A qualified ``output`` must name the job's own department and the zone given
    for the job; anything else is refused before the job runs.
    """
    if "." not in output:
        name = output
    else:
        ref = project.parse_dataset(output)
        if ref is None:
            raise JobDefinitionError(
                f"{where}: output {output!r} is not <department>_<zone>.<name>; "
                "give just the dataset name (e.g. output='permits_by_ward')"
            )
        if ref.department != department:
            raise cross_department_error(where, department, ref.qualified)
        if ref.zone != zone:
            raise JobDefinitionError(
                f"{where}: output {output!r} is in zone {ref.zone} but the job's zone is "
                f"{zone}; set zone={ref.zone!r} or give just the dataset name"
            )
        name = ref.name
    if not is_identifier(name):
        raise JobDefinitionError(
            f"{where}: {name!r} is not a dataset name; use lowercase letters, digits and _ "
            "(rename the file, e.g. applications_clean.sql)"
        )
    return DatasetRef(department, zone, name)
