"""lake change counters: one row per state table the lake copies

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 02:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lake_changes",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_lake_changes")),
    )


def downgrade() -> None:
    op.drop_table("lake_changes")
