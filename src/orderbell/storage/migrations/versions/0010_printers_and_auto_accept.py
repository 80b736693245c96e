"""receipt printers, a shop's auto-accept, one outgoing row per message and target

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Every shop that exists starts without auto-accept and without printers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_accept", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "printer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("width", sa.SmallInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("login", sa.String(length=32), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("mac", sa.String(length=32), nullable=True),
        sa.Column("last_heard_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_detail", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], name=op.f("fk_printer_shop_id_shop")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_printer")),
        sa.UniqueConstraint("login", name=op.f("uq_printer_login")),
    )
    op.create_index(op.f("ix_printer_shop_id"), "printer", ["shop_id"], unique=False)
    op.create_index(
        "uq_outgoing_message", "outgoing", ["kind", "target_id", "message_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_outgoing_message", table_name="outgoing")
    op.drop_index(op.f("ix_printer_shop_id"), table_name="printer")
    op.drop_table("printer")
    with op.batch_alter_table("shop", schema=None) as batch_op:
        batch_op.drop_column("auto_accept")
