"""Relationships between datasets, declared once in ``models/relationships.yaml``.

Published as PostgreSQL foreign keys (:mod:`civiclake.publish.relationships`), checked
for orphans (:mod:`civiclake.model.integrity`), drawn as a Mermaid ER diagram
(:mod:`civiclake.model.diagram`), and guessed by ``civiclake model suggest``
(:mod:`civiclake.model.suggest`).
"""

from civiclake.model.relationships import Relationship, load_relationships

__all__ = ["Relationship", "load_relationships"]
