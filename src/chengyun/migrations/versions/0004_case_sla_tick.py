"""cases: what the SLA tick records on a case, and the indexes that let it read only the cases it changes

``warned_due_at`` (the due time last warned about, so a warning is given once per due time) and
``response_breached`` (响应超时), with one index per tick step.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warned_due_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("response_breached", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index("ix_cases_tick_breach", ["status", "breached", "due_at"], unique=False)
        batch_op.create_index("ix_cases_tick_level", ["status", "escalation_level", "due_at"], unique=False)
        batch_op.create_index("ix_cases_tick_response", ["status", "response_breached", "response_due_at"],
                              unique=False, sqlite_where=sa.text("responded_at IS NULL"),
                              postgresql_where=sa.text("responded_at IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_tick_response")
        batch_op.drop_index("ix_cases_tick_level")
        batch_op.drop_index("ix_cases_tick_breach")
        batch_op.drop_column("response_breached")
        batch_op.drop_column("warned_due_at")
