"""Web Push: the deployment's VAPID key, the devices' push subscriptions, and
when the push sweep dealt with an alert

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Alerts already in the log count as dealt with: a deployment that upgrades
does not push yesterday's orders.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PUSH_DUE = "pushed_at IS NULL AND first_shown_at IS NULL AND handled_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pushed_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE alert SET pushed_at = created_at")
    op.create_index(
        "ix_alert_push_due",
        "alert",
        ["created_at"],
        unique=False,
        sqlite_where=sa.text(_PUSH_DUE),
        postgresql_where=sa.text(_PUSH_DUE),
    )
    op.create_table(
        "push_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_key")),
    )
    op.create_table(
        "push_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("p256dh", sa.String(length=128), nullable=False),
        sa.Column("auth", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchant.id"],
            name=op.f("fk_push_subscription_merchant_id_merchant"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_push_subscription_shop_id_shop")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscription")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscription_endpoint")),
    )
    op.create_index(
        op.f("ix_push_subscription_shop_id"), "push_subscription", ["shop_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_push_subscription_shop_id"), table_name="push_subscription")
    op.drop_table("push_subscription")
    op.drop_table("push_key")
    op.drop_index("ix_alert_push_due", table_name="alert")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("pushed_at")
