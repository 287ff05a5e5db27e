"""Relationships declared once, in ``models/relationships.yaml``.

::

    relationships:
      - planning_refined.applications.ward_id -> unrestricted_trusted.wards.id
      - from: housing_trusted.tenancies.ward_id
        to: unrestricted_trusted.wards.id
        description: the ward a tenancy's property is in

Each becomes a foreign key in the PostgreSQL warehouse (``NOT VALID`` while
the data has orphans, so BI tools still discover the join), a referential
integrity check with orphan counts (``civiclake model check``), and an edge of
the Mermaid ER diagram in the playbook (``civiclake model diagram``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from civiclake.exceptions import ConfigError

if TYPE_CHECKING:
    from civiclake.project import Project
    from civiclake.storage import DatasetRef

FILE = Path("models") / "relationships.yaml"
_ARROW = re.compile(r"\s*(?:->|→)\s*")


@dataclass(frozen=True)
class Relationship:
    """``child.column → parent.column`` (many children to one parent)."""

    child: DatasetRef
    child_column: str
    parent: DatasetRef
    parent_column: str
    description: str = ""

    @property
    def name(self) -> str:
        """The foreign key's name: ``fk_<child>__<column>`` (63 characters at most)."""
        return f"fk_{self.child.name}__{self.child_column}"[:63]

    def __str__(self) -> str:
        return (
            f"{self.child.qualified}.{self.child_column} -> "
            f"{self.parent.qualified}.{self.parent_column}"
        )


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_: str
    to: str
    description: str = ""

    @classmethod
    def parse(cls, value: Any) -> _Entry:
        if isinstance(value, str):
            parts = _ARROW.split(value.strip())
            if len(parts) != 2:
                raise ValueError(
                    f"{value!r}: write `<schema>.<table>.<column> -> <schema>.<table>.<column>`"
                )
            return cls(from_=parts[0], to=parts[1])
        if isinstance(value, dict):
            data = dict(value)
            if "from" in data:
                data["from_"] = data.pop("from")
            return cls(**data)
        raise ValueError("each relationship is a line `a.b.c -> d.e.f` or {from:, to:}")


class RelationshipsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    relationships: list[_Entry] = []

    @field_validator("relationships", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("`relationships` is a list")
        return [_Entry.parse(v) for v in value]


def load_relationships(project: Project) -> list[Relationship]:
    """The declared relationships, checked against the catalog (tables and columns exist)."""
    from civiclake.config.loader import load_model

    path = project.dir / FILE
    if not path.exists():
        return []
    entries = load_model(path, RelationshipsFile).relationships
    columns = {
        row["qualified_name"]: [c["name"] for c in row["columns"] or []]
        for row in project.store.datasets()
    }
    found = []
    for entry in entries:
        child, child_col = _column(project, entry.from_, columns, path)
        parent, parent_col = _column(project, entry.to, columns, path)
        found.append(Relationship(child, child_col, parent, parent_col, entry.description))
    return found


def _column(
    project: Project, text: str, columns: dict[str, list[str]], path: Path
) -> tuple[DatasetRef, str]:
    from civiclake.config.suggest import did_you_mean

    table, _, column = text.strip().rpartition(".")
    ref = project.parse_dataset(table)
    if ref is None or ref.qualified not in columns:
        raise ConfigError(
            f"{path}: {text!r} names no dataset{did_you_mean(table, list(columns))}; write "
            "<department>_<zone>.<dataset>.<column> (`civiclake datasets` lists them)"
        )
    if column not in columns[ref.qualified]:
        raise ConfigError(
            f"{path}: {ref.qualified} has no column {column!r}"
            f"{did_you_mean(column, columns[ref.qualified])}"
        )
    return ref, column


def write_relationships(project: Project, lines: list[str]) -> Path:
    """Append ``a.b.c -> d.e.f`` lines to the file (created when missing)."""
    path = project.dir / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else "relationships:\n"
    if "relationships:" not in text:
        text += "\nrelationships:\n"
    if not text.endswith("\n"):
        text += "\n"
    text += "".join(f"  - {line}\n" for line in lines)
    path.write_text(text)
    return path
