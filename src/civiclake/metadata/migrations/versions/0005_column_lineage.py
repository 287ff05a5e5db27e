"""column lineage of jobs and PII clearances (PII follows the data)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "column_lineage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=255), nullable=False),
        sa.Column("output_dataset", sa.String(length=255), nullable=False),
        sa.Column("output_column", sa.String(length=255), nullable=False),
        sa.Column("input_dataset", sa.String(length=255), nullable=True),
        sa.Column("input_column", sa.String(length=255), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("pii", sa.Boolean(), nullable=False),
        sa.Column("import_id", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_column_lineage_job"), "column_lineage", ["job"])
    op.create_index(op.f("ix_column_lineage_output_dataset"), "column_lineage", ["output_dataset"])
    op.create_index(op.f("ix_column_lineage_input_dataset"), "column_lineage", ["input_dataset"])
    op.create_table(
        "pii_clearances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=255), nullable=False),
        sa.Column("dataset", sa.String(length=255), nullable=False),
        sa.Column("column_name", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("import_id", sa.String(length=64), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset", "column_name", name="uq_pii_clearances_dataset_column"),
    )
    op.create_index(op.f("ix_pii_clearances_job"), "pii_clearances", ["job"])
    op.create_index(op.f("ix_pii_clearances_dataset"), "pii_clearances", ["dataset"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pii_clearances_dataset"), table_name="pii_clearances")
    op.drop_index(op.f("ix_pii_clearances_job"), table_name="pii_clearances")
    op.drop_table("pii_clearances")
    op.drop_index(op.f("ix_column_lineage_input_dataset"), table_name="column_lineage")
    op.drop_index(op.f("ix_column_lineage_output_dataset"), table_name="column_lineage")
    op.drop_index(op.f("ix_column_lineage_job"), table_name="column_lineage")
    op.drop_table("column_lineage")
