"""member groups: the key of the stacked model a sweep member trains in

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A nullable text column on sweep_members (group_key) with an index on (sweep_id, group_key):
members made before it train alone, so null.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("sweep_members", sa.Column("group_key", sa.String(64), nullable=True))
    op.create_index(
        "ix_sweep_members_sweep_id_group_key", "sweep_members", ["sweep_id", "group_key"]
    )


def downgrade() -> None:
    op.drop_index("ix_sweep_members_sweep_id_group_key", table_name="sweep_members")
    with op.batch_alter_table("sweep_members") as batch:
        batch.drop_column("group_key")
