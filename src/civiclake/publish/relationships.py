"""Declared relationships as PostgreSQL foreign keys, so BI tools discover the joins.

A foreign key is added ``NOT VALID`` (no scan, existing orphans allowed) and
validated only when DuckDB counted no orphans — then PostgreSQL scans once and
marks it valid. Its parent column needs a primary key or unique index: keyed
datasets have one on their key; a plain dataset's declared key becomes one when
its data allows. Relationships whose tables are not published, or whose parent
column is not unique, are skipped with a note.

PostgreSQL checks a foreign key on every insert and delete, even a ``NOT
VALID`` one, and an orphan is a fact of the data here, not an error. So each
dataset's publish transaction drops the foreign keys touching its tables
(:func:`drop_foreign_keys`) and this step adds them back after all datasets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from civiclake.publish.warehouse import q, qual

if TYPE_CHECKING:
    import psycopg

    from civiclake.project import Project

PREFIX = "fk_"


def publish_relationships(project: Project, conn: psycopg.Connection[Any]) -> list[str]:
    """Add or refresh the foreign keys; returns notes on what was skipped or left invalid."""
    from civiclake.model.integrity import check_integrity
    from civiclake.model.relationships import load_relationships

    relationships = load_relationships(project)
    if not relationships:
        return []
    notes = []
    orphans = {id(r.relationship): r.orphans for r in check_integrity(project, relationships)}
    for rel in relationships:
        child, parent = (
            qual(rel.child.schema, rel.child.name),
            qual(rel.parent.schema, rel.parent.name),
        )
        if not (
            _exists(conn, rel.child.schema, rel.child.name)
            and _exists(conn, rel.parent.schema, rel.parent.name)
        ):
            notes.append(f"{rel}: not published (both datasets must be in warehouse.zones)")
            continue
        if not _unique(conn, rel.parent.schema, rel.parent.name, rel.parent_column):
            notes.append(f"{rel}: {rel.parent.qualified}.{rel.parent_column} is not unique there")
            continue
        with conn.transaction():
            conn.execute(f"ALTER TABLE {child} DROP CONSTRAINT IF EXISTS {q(rel.name)}")
            conn.execute(
                f"ALTER TABLE {child} ADD CONSTRAINT {q(rel.name)} FOREIGN KEY "
                f"({q(rel.child_column)}) REFERENCES {parent} ({q(rel.parent_column)}) NOT VALID"
            )
            count = orphans.get(id(rel), 1)
            if count == 0:
                conn.execute(f"ALTER TABLE {child} VALIDATE CONSTRAINT {q(rel.name)}")
            else:
                notes.append(f"{rel}: {count:,} orphan rows, so the foreign key is NOT VALID")
            conn.execute(
                f"COMMENT ON CONSTRAINT {q(rel.name)} ON {child} IS "
                f"'{(rel.description or str(rel)).replace(chr(39), chr(39) * 2)}'"
            )
    conn.commit()
    return notes


def drop_foreign_keys(conn: psycopg.Connection[Any], schema: str, table: str) -> None:
    """Drop civiclake's foreign keys from or to ``schema.table`` (re-added after publishing)."""
    rows = conn.execute(
        "SELECT c.conname, n.nspname, r.relname FROM pg_constraint c "
        "JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
        "WHERE c.contype = 'f' AND c.conname LIKE 'fk\\_%%' AND (c.conrelid = %s::regclass "
        "OR c.confrelid = %s::regclass)",
        (qual(schema, table), qual(schema, table)),
    ).fetchall()
    for name, child_schema, child in rows:
        conn.execute(f"ALTER TABLE {qual(child_schema, child)} DROP CONSTRAINT {q(name)}")


def _exists(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (schema, table)
    ).fetchone()
    return row is not None


def _unique(conn: psycopg.Connection[Any], schema: str, table: str, column: str) -> bool:
    """A unique index on exactly ``column`` (what a foreign key needs)."""
    row = conn.execute(
        "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND i.indisunique "
        "AND i.indnatts = 1 AND a.attname = %s",
        (qual(schema, table), column),
    ).fetchone()
    return row is not None
