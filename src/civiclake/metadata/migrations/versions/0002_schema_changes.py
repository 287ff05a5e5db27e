"""schema changes: columns added or widened by a source

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schema_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=255), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("column_name", sa.String(length=255), nullable=False),
        sa.Column("old_type", sa.String(length=100), nullable=True),
        sa.Column("new_type", sa.String(length=100), nullable=True),
        sa.Column("import_id", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_schema_changes_dataset"), "schema_changes", ["dataset"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_schema_changes_dataset"), table_name="schema_changes")
    op.drop_table("schema_changes")
