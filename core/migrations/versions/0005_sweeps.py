"""sweeps: a study over configurations x seeds, its members, and why a member stopped early

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Two new tables (sweeps, sweep_members) and a nullable text column on experiments
(stop_reason): experiments made before it stopped early never, so null.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("stop_reason", sa.Text(), nullable=True))
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey("tenants.id", name="fk_sweeps_tenant_id_tenants"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name="uq_sweeps_tenant_id_idempotency_key"
        ),
    )
    op.create_index("ix_sweeps_tenant_id_created_at", "sweeps", ["tenant_id", "created_at"])
    op.create_table(
        "sweep_members",
        sa.Column(
            "experiment_id",
            sa.String(36),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "sweep_id",
            sa.String(36),
            sa.ForeignKey("sweeps.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("config_index", sa.Integer(), nullable=False),
        sa.Column("config_key", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("pruner_state", sa.JSON(), nullable=True),
        sa.UniqueConstraint("sweep_id", "config_key", "seed", name="uq_sweep_members_config_seed"),
    )
    op.create_index("ix_sweep_members_sweep_id", "sweep_members", ["sweep_id"])


def downgrade() -> None:
    op.drop_index("ix_sweep_members_sweep_id", "sweep_members")
    op.drop_table("sweep_members")
    op.drop_index("ix_sweeps_tenant_id_created_at", "sweeps")
    op.drop_table("sweeps")
    op.drop_column("experiments", "stop_reason")
