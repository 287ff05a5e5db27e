"""Referential integrity of declared relationships: orphan counts, computed in DuckDB."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from civiclake.naming import quote as _q

if TYPE_CHECKING:
    from civiclake.model.relationships import Relationship
    from civiclake.project import Project


@dataclass(frozen=True)
class IntegrityResult:
    relationship: Relationship
    rows: int
    """Child rows with a non-NULL value in the column."""
    orphans: int
    """Of those, rows whose value the parent does not have."""
    examples: list[str]

    @property
    def ok(self) -> bool:
        return self.orphans == 0


def check_integrity(project: Project, relationships: list[Relationship]) -> list[IntegrityResult]:
    if not relationships:
        return []
    session = project.engine().session()
    try:
        refs = {r.child for r in relationships} | {r.parent for r in relationships}
        session.register(refs)
        results = []
        for rel in relationships:
            child = f"{_q(rel.child.schema)}.{_q(rel.child.name)}"
            parent = f"{_q(rel.parent.schema)}.{_q(rel.parent.name)}"
            col, pcol = _q(rel.child_column), _q(rel.parent_column)
            orphans = (
                f"SELECT c.{col} AS v FROM {child} AS c WHERE c.{col} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {parent} AS p WHERE p.{pcol} = c.{col})"
            )
            row = session.sql(
                f"SELECT (SELECT count(*) FROM {child} WHERE {col} IS NOT NULL) AS n, "
                f"(SELECT count(*) FROM ({orphans})) AS o"
            ).read_all()
            n, o = row.column("n")[0].as_py(), row.column("o")[0].as_py()
            sample = session.sql(f"SELECT DISTINCT v FROM ({orphans}) ORDER BY v LIMIT 5")
            examples = [str(v) for v in sample.read_all().column("v").to_pylist()]
            results.append(IntegrityResult(rel, int(n), int(o), examples))
        return results
    finally:
        session.close()
