"""The Mermaid ER diagram of the declared relationships, for the playbook."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from civiclake.model.relationships import Relationship
    from civiclake.project import Project


def _entity(qualified: str) -> str:
    return qualified.replace(".", "__").replace("-", "_")


def mermaid(project: Project, relationships: list[Relationship]) -> str:
    """``erDiagram`` with each related dataset's key and relationship columns."""
    datasets = {row["qualified_name"]: row for row in project.store.datasets()}
    lines = ["erDiagram"]
    for rel in relationships:
        label = f"{rel.child_column} → {rel.parent_column}"
        child, parent = _entity(rel.child.qualified), _entity(rel.parent.qualified)
        lines.append(f'    {child} }}o--o| {parent} : "{label}"')
    shown: dict[str, set[str]] = {}
    for rel in relationships:
        shown.setdefault(rel.child.qualified, set()).add(rel.child_column)
        shown.setdefault(rel.parent.qualified, set()).add(rel.parent_column)
    fks = {(r.child.qualified, r.child_column) for r in relationships}
    for qualified in sorted(shown):
        row = datasets.get(qualified) or {}
        key = set(row.get("key") or [])
        types = {c["name"]: c["type"] for c in row.get("columns") or []}
        lines.append(f"    {_entity(qualified)} {{")
        for col in sorted(key | shown[qualified]):
            marks = []
            if col in key:
                marks.append("PK")
            if (qualified, col) in fks:
                marks.append("FK")
            kind = _short(types.get(col, "unknown"))
            lines.append(f"        {kind} {col} {', '.join(marks)}".rstrip())
        lines.append("    }")
    return "\n".join(lines) + "\n"


def _short(arrow_type: str) -> str:
    text = arrow_type.split("[")[0].split("(")[0]
    return {"large_string": "string", "date32": "date"}.get(text, text) or "unknown"
