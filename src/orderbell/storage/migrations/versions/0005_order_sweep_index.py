"""orders by status and age: the index the scheduled sweeps look orders up by

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Without it, every sweep of every server process reads the whole orders
table. ``IF NOT EXISTS`` lets a large PostgreSQL table get the index
beforehand without blocking writes (docs/deploy.md):

    CREATE INDEX CONCURRENTLY ix_orders_status_time ON orders (status, order_time);
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_status_time",
        "orders",
        ["status", "order_time"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_orders_status_time", table_name="orders")
