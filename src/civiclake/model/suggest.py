"""``civiclake model suggest``: relationships guessed from ``_id`` names, kept if values agree.

A column ``ward_id`` in one dataset is paired with a dataset named ``wards``
or ``ward`` (any department and zone) whose key — or ``id`` column — it might
reference. A candidate is proposed when at least ``min_overlap`` of the
column's distinct non-NULL values exist in the parent: names alone propose too
much, values alone find coincidences between small integer columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from civiclake.naming import quote as _q

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.storage import DatasetRef


@dataclass(frozen=True)
class Suggestion:
    child: DatasetRef
    column: str
    parent: DatasetRef
    parent_column: str
    overlap: float
    """Share of the column's distinct values found in the parent."""
    distinct: int

    @property
    def line(self) -> str:
        return (
            f"{self.child.qualified}.{self.column} -> {self.parent.qualified}.{self.parent_column}"
        )


def suggest(project: Project, *, min_overlap: float = 0.9) -> list[Suggestion]:
    from civiclake.model.relationships import load_relationships
    from civiclake.naming import HISTORY_SUFFIX

    rows = [
        r
        for r in project.store.datasets()
        if not r["name"].endswith((HISTORY_SUFFIX, "__rejected"))
        and r["department"] in project.departments
    ]
    refs = {r["qualified_name"]: project.parse_dataset(r["qualified_name"]) for r in rows}
    declared = {(r.child.qualified, r.child_column) for r in load_relationships(project)}
    candidates = []
    for row in rows:
        for col in (c["name"] for c in row["columns"] or []):
            if not col.endswith("_id") or len(col) <= 3:
                continue
            stem = col[:-3]
            for parent in rows:
                if parent is row or parent["name"] not in (stem, stem + "s", stem + "es"):
                    continue
                pcols = [c["name"] for c in parent["columns"] or []]
                key = parent["key"] or []
                target = key[0] if len(key) == 1 else ("id" if "id" in pcols else None)
                if target and (row["qualified_name"], col) not in declared:
                    candidates.append(
                        (row["qualified_name"], col, parent["qualified_name"], target)
                    )
    if not candidates:
        return []
    session = project.engine().session()
    try:
        needed = {refs[c[0]] for c in candidates} | {refs[c[2]] for c in candidates}
        session.register(ref for ref in needed if ref is not None)
        found = []
        for child, col, parent, pcol in candidates:
            c, p = refs[child], refs[parent]
            assert c is not None and p is not None
            table = session.sql(
                f"WITH v AS (SELECT DISTINCT {_q(col)} AS v FROM {_q(c.schema)}.{_q(c.name)} "
                f"WHERE {_q(col)} IS NOT NULL) SELECT count(*) AS n, count(*) FILTER (WHERE v IN "
                f"(SELECT {_q(pcol)} FROM {_q(p.schema)}.{_q(p.name)})) AS hit FROM v"
            ).read_all()
            n, hit = table.column("n")[0].as_py(), table.column("hit")[0].as_py()
            if n and hit / n >= min_overlap:
                found.append(Suggestion(c, col, p, pcol, hit / n, n))
        return found
    finally:
        session.close()
