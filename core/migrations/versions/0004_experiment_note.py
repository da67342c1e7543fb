"""each experiment's note: free text its owner writes and edits (PATCH)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09

A nullable text column: experiments made before it have no note (null).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A plain ADD / DROP COLUMN, as in 0003: no batch-mode table copy on SQLite.
    op.add_column("experiments", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("experiments", "note")
