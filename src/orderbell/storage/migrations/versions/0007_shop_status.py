"""shop status (open, closed, paused) and the history of its changes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Every shop that exists is open, as it was before there was a status.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=8), server_default="open", nullable=False)
        )
        batch_op.add_column(sa.Column("status_reason", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("status_since", sa.DateTime(), nullable=True))
    op.create_table(
        "shop_status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=8), nullable=False),
        sa.Column("to_status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_shop_status_change_shop_id_shop")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchant.id"],
            name=op.f("fk_shop_status_change_merchant_id_merchant"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_status_change")),
    )
    op.create_index(
        "ix_shop_status_change_shop_time",
        "shop_status_change",
        ["shop_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_shop_status_change_shop_time", table_name="shop_status_change")
    op.drop_table("shop_status_change")
    with op.batch_alter_table("shop", schema=None) as batch_op:
        batch_op.drop_column("status_since")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")
