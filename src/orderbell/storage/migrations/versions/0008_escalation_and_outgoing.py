"""the escalation ladder, the response-time report's times, webhook endpoints
and the outgoing rows every side effect is carried out from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Orders already waiting for the shop get a due time of now, so the ladder
looks at them once on its first turn (and judges them by their payment time).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("escalation_level", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("escalation_notified", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("escalation_due_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_orders_escalation_due", ["escalation_due_at"], unique=False)
        batch_op.create_index("ix_orders_shop_checkout", ["shop_id", "checkout_time"], unique=False)
    op.execute(
        "UPDATE orders SET escalation_due_at = COALESCE(checkout_time, order_time) WHERE status = 2"
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_shown_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("first_rung_at", sa.DateTime(), nullable=True))
    op.create_table(
        "shop_escalation",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("warn_seconds", sa.Integer(), nullable=True),
        sa.Column("notify_seconds", sa.Integer(), nullable=True),
        sa.Column("notify_repeat_seconds", sa.Integer(), nullable=True),
        sa.Column("auto_cancel_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_shop_escalation_shop_id_shop")
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_escalation")),
    )
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", sa.String(length=512), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("failing_since", sa.DateTime(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_reason", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_webhook_endpoint_shop_id_shop")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoint")),
    )
    op.create_index(
        op.f("ix_webhook_endpoint_shop_id"), "webhook_endpoint", ["shop_id"], unique=False
    )
    op.create_table(
        "outgoing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing")),
    )
    op.create_index(
        "ix_outgoing_due",
        "outgoing",
        ["kind", "next_attempt_at"],
        unique=False,
        sqlite_where=sa.text("state = 'queued'"),
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "ix_outgoing_open",
        "outgoing",
        ["kind", "target_id", "id"],
        unique=False,
        sqlite_where=sa.text("state IN ('queued', 'sent')"),
        postgresql_where=sa.text("state IN ('queued', 'sent')"),
    )
    op.create_index("ix_outgoing_shop_time", "outgoing", ["shop_id", "created_at"], unique=False)
    op.create_index(
        "ix_outgoing_target", "outgoing", ["kind", "target_id", "created_at"], unique=False
    )
    op.create_table(
        "outgoing_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outgoing_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["outgoing_id"], ["outgoing.id"], name=op.f("fk_outgoing_attempt_outgoing_id_outgoing")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_attempt")),
    )
    op.create_index(
        op.f("ix_outgoing_attempt_outgoing_id"), "outgoing_attempt", ["outgoing_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outgoing_attempt_outgoing_id"), table_name="outgoing_attempt")
    op.drop_table("outgoing_attempt")
    op.drop_index("ix_outgoing_target", table_name="outgoing")
    op.drop_index("ix_outgoing_shop_time", table_name="outgoing")
    op.drop_index("ix_outgoing_open", table_name="outgoing")
    op.drop_index("ix_outgoing_due", table_name="outgoing")
    op.drop_table("outgoing")
    op.drop_index(op.f("ix_webhook_endpoint_shop_id"), table_name="webhook_endpoint")
    op.drop_table("webhook_endpoint")
    op.drop_table("shop_escalation")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("first_rung_at")
        batch_op.drop_column("first_shown_at")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_shop_checkout")
        batch_op.drop_index("ix_orders_escalation_due")
        batch_op.drop_column("escalation_due_at")
        batch_op.drop_column("escalation_notified")
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("accepted_at")
