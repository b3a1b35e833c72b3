"""initial state tables

Revision ID: 0001
Revises:
Create Date: 2026-11-26 11:07:53.053803
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_units",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("area_km2", sa.Float(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["admin_units.id"], name=op.f("fk_admin_units_parent_id_admin_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_units")),
    )
    with op.batch_alter_table("admin_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_units_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "installed_packs",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installed_packs")),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["admin_units.id"], name=op.f("fk_departments_tenant_id_admin_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
    )
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_departments_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("pack_id", sa.String(length=100), nullable=False),
        sa.Column("pack_version", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("max_total", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("no_data_policy", sa.String(length=16), nullable=False),
        sa.Column("snapshot", sa.String(length=500), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("previous_run_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["admin_units.id"], name=op.f("fk_evaluation_runs_tenant_id_admin_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_runs")),
    )
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_runs_pack_id"), ["pack_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evaluation_runs_period"), ["period"], unique=False)
        batch_op.create_index(batch_op.f("ix_evaluation_runs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "manual_inputs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pack_id", sa.String(length=100), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("source_document", sa.String(length=500), nullable=True),
        sa.Column("entered_by", sa.String(length=100), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["admin_units.id"], name=op.f("fk_manual_inputs_tenant_id_admin_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_inputs")),
    )
    with op.batch_alter_table("manual_inputs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manual_inputs_pack_id"), ["pack_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_manual_inputs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "node_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.String(length=100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("effective_weight", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=40), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.Float(), nullable=True),
        sa.Column("provenance", sa.String(length=40), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["evaluation_runs.id"],
            name=op.f("fk_node_results_run_id_evaluation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_results")),
    )
    with op.batch_alter_table("node_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_results_run_id"), ["run_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("node_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_results_run_id"))

    op.drop_table("node_results")
    with op.batch_alter_table("manual_inputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manual_inputs_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_manual_inputs_pack_id"))

    op.drop_table("manual_inputs")
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_runs_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_evaluation_runs_period"))
        batch_op.drop_index(batch_op.f("ix_evaluation_runs_pack_id"))

    op.drop_table("evaluation_runs")
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_departments_tenant_id"))

    op.drop_table("departments")
    op.drop_table("installed_packs")
    with op.batch_alter_table("admin_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_units_parent_id"))

    op.drop_table("admin_units")
