"""each experiment's reproducibility record (versions, device, threads, seeds, data files)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A nullable JSON column: experiments run before it have no record (null).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A plain ADD / DROP COLUMN on both stores (SQLite >= 3.35 drops columns in place):
    # no batch-mode table copy, which could cascade-delete on SQLite (see 0002).
    op.add_column("experiments", sa.Column("environment", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("experiments", "environment")
