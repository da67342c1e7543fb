"""tenants, their API keys, and the tenant of each experiment

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Experiments made before tenants existed go to the default tenant (id "default"). An
Idempotency-Key becomes unique per tenant instead of across the store.

On SQLite, changing the experiments table's constraints means copying the table (batch
mode), which drops the old one: with foreign keys enforced that DROP would first delete
the old table's rows, and ON DELETE CASCADE would take every tag, metric point and
checkpoint row with them. Enforcement is therefore switched off around the copy, and the
references are checked before the migration commits.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

DEFAULT_TENANT_ID = "default"
# Names reflected unnamed constraints get in batch mode (SQLite's are unnamed).
NAMING_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_constraint_name(table: str, columns: list[str]) -> str:
    """The name of ``table``'s unique constraint on exactly ``columns``, as batch mode
    knows it (an unnamed one gets its NAMING_CONVENTION name)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if constraint["column_names"] == columns:
            return constraint["name"] or NAMING_CONVENTION["uq"] % {
                "table_name": table,
                "column_0_name": columns[0],
            }
    raise RuntimeError(f"no unique constraint on {table}({', '.join(columns)}) to replace")


def _foreign_keys_off_on_sqlite() -> bool:
    """Stop SQLite enforcing foreign keys for the table copies; returns whether it did."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # The PRAGMA is ignored inside a transaction: copying now could cascade-delete.
        raise RuntimeError(
            "could not switch off SQLite's foreign keys (a transaction is open); "
            "run this migration on its own: adamlab migrate"
        )
    return True


def _foreign_keys_back_on_sqlite() -> None:
    bind = op.get_bind()
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rows with broken references after the migration: {broken[:5]}")
    bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    sqlite = _foreign_keys_off_on_sqlite()
    tenants = op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.bulk_insert(
        tenants,
        [
            {
                "id": DEFAULT_TENANT_ID,
                "name": "default",
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            }
        ],
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])

    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("tenant_id", sa.String(length=36), nullable=True))
    op.execute(
        sa.text("UPDATE experiments SET tenant_id = :tenant").bindparams(tenant=DEFAULT_TENANT_ID)
    )
    old_unique = _unique_constraint_name("experiments", ["idempotency_key"])
    with op.batch_alter_table("experiments", naming_convention=NAMING_CONVENTION) as batch:
        batch.alter_column("tenant_id", existing_type=sa.String(length=36), nullable=False)
        batch.create_foreign_key(
            "fk_experiments_tenant_id_tenants", "tenants", ["tenant_id"], ["id"]
        )
        batch.drop_constraint(old_unique, type_="unique")
        batch.create_unique_constraint(
            "uq_experiments_tenant_id_idempotency_key", ["tenant_id", "idempotency_key"]
        )
    op.create_index(
        "ix_experiments_tenant_id_created_at", "experiments", ["tenant_id", "created_at"]
    )
    op.create_index("ix_experiments_tenant_id_status", "experiments", ["tenant_id", "status"])
    if sqlite:
        _foreign_keys_back_on_sqlite()


def downgrade() -> None:
    """Back to one store-wide tenant. Fails if two tenants used the same Idempotency-Key."""
    sqlite = _foreign_keys_off_on_sqlite()
    op.drop_index("ix_experiments_tenant_id_status", table_name="experiments")
    op.drop_index("ix_experiments_tenant_id_created_at", table_name="experiments")
    with op.batch_alter_table("experiments", naming_convention=NAMING_CONVENTION) as batch:
        batch.drop_constraint("uq_experiments_tenant_id_idempotency_key", type_="unique")
        batch.drop_constraint("fk_experiments_tenant_id_tenants", type_="foreignkey")
        batch.create_unique_constraint(None, ["idempotency_key"])  # named by the convention  # pyright: ignore[reportArgumentType]
        batch.drop_column("tenant_id")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
    if sqlite:
        _foreign_keys_back_on_sqlite()
