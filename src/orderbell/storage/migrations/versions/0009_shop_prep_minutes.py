"""a shop's usual preparation time, the default of "accept with a prep time"

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Every shop that exists starts with 20 minutes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prep_minutes", sa.SmallInteger(), server_default="20", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("shop", schema=None) as batch_op:
        batch_op.drop_column("prep_minutes")
