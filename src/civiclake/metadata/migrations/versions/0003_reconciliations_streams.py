"""reconciliation reports of database sources; progress of stream partitions

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("dataset", sa.String(length=255), nullable=False),
        sa.Column("import_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_rows", sa.BigInteger(), nullable=False),
        sa.Column("platform_rows", sa.BigInteger(), nullable=False),
        sa.Column("ranges_compared", sa.Integer(), nullable=False),
        sa.Column("rows_fetched", sa.BigInteger(), nullable=False),
        sa.Column("missing_found", sa.BigInteger(), nullable=False),
        sa.Column("missing_repaired", sa.BigInteger(), nullable=False),
        sa.Column("stale_found", sa.BigInteger(), nullable=False),
        sa.Column("stale_repaired", sa.BigInteger(), nullable=False),
        sa.Column("deleted_found", sa.BigInteger(), nullable=False),
        sa.Column("deleted_repaired", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_reconciliations_source"), "reconciliations", ["source"])
    op.create_index(op.f("ix_reconciliations_dataset"), "reconciliations", ["dataset"])
    op.create_table(
        "stream_partitions",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("committed_offset", sa.BigInteger(), nullable=False),
        sa.Column("high_watermark", sa.BigInteger(), nullable=True),
        sa.Column("lag", sa.BigInteger(), nullable=True),
        sa.Column("events_per_second", sa.BigInteger(), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "topic", "partition"),
    )


def downgrade() -> None:
    op.drop_table("stream_partitions")
    op.drop_index(op.f("ix_reconciliations_dataset"), table_name="reconciliations")
    op.drop_index(op.f("ix_reconciliations_source"), table_name="reconciliations")
    op.drop_table("reconciliations")
