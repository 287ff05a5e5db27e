"""Relationships: declared in YAML, suggested from names and values, checked, drawn."""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.exceptions import ConfigError
from civiclake.model.diagram import mermaid
from civiclake.model.integrity import check_integrity
from civiclake.model.relationships import load_relationships, write_relationships
from civiclake.model.suggest import suggest

DECLARED = """relationships:
  - planning_refined.applications.ward_id -> unrestricted_trusted.wards.id
  - from: housing_trusted.tenants.ward_id
    to: unrestricted_trusted.wards.id
    description: the ward of the tenant's home
"""


def test_declared_relationships_are_checked_for_orphans(council: Project) -> None:
    (council.dir / "models" / "relationships.yaml").write_text(DECLARED)
    rels = load_relationships(council)
    assert [str(r) for r in rels] == [
        "planning_refined.applications.ward_id -> unrestricted_trusted.wards.id",
        "housing_trusted.tenants.ward_id -> unrestricted_trusted.wards.id",
    ]
    results = {str(r.relationship): r for r in check_integrity(council, rels)}
    apps = results["planning_refined.applications.ward_id -> unrestricted_trusted.wards.id"]
    assert (apps.rows, apps.orphans) == (2, 0)  # the deleted application's ward 7 is gone
    tenants = results["housing_trusted.tenants.ward_id -> unrestricted_trusted.wards.id"]
    assert (tenants.rows, tenants.orphans, tenants.examples) == (3, 1, ["9"])


def test_mistakes_in_the_file_name_the_fix(council: Project) -> None:
    path = council.dir / "models" / "relationships.yaml"
    path.write_text(
        "relationships:\n"
        "  - planning_refined.aplications.ward_id -> unrestricted_trusted.wards.id\n"
    )
    with pytest.raises(ConfigError, match="did you mean"):
        load_relationships(council)
    path.write_text(
        "relationships:\n  - housing_trusted.tenants.wardid -> unrestricted_trusted.wards.id\n"
    )
    with pytest.raises(ConfigError, match=r"no column 'wardid'.*ward_id"):
        load_relationships(council)
    path.write_text("relationships:\n  - just one side\n")
    with pytest.raises(ConfigError, match="->"):
        load_relationships(council)


def test_suggest_from_id_names_and_value_overlap(council: Project) -> None:
    found = {s.line: s for s in suggest(council, min_overlap=0.9)}
    # applications.ward_id: every value is a ward; tenants.ward_id: 2 of 3 (9 is not)
    assert set(found) == {"planning_refined.applications.ward_id -> unrestricted_trusted.wards.id"}
    loose = {s.line for s in suggest(council, min_overlap=0.5)}
    assert "housing_trusted.tenants.ward_id -> unrestricted_trusted.wards.id" in loose
    write_relationships(council, sorted(loose))
    assert suggest(council, min_overlap=0.5) == []  # declared ones are not suggested again
    assert len(load_relationships(council)) == 2


def test_mermaid_diagram(council: Project) -> None:
    (council.dir / "models" / "relationships.yaml").write_text(DECLARED)
    text = mermaid(council, load_relationships(council))
    assert text.startswith("erDiagram\n")
    assert (
        'planning_refined__applications }o--o| unrestricted_trusted__wards : "ward_id → id"' in text
    )
    assert "int64 id PK" in text and "int64 ward_id FK" in text
