"""address_book: at most one default address per customer

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Two addresses added at once could both become the default. Such extra
defaults are put right first (the newest default of a customer stays), then
a partial unique index keeps it so.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BOOK = sa.table(
    "address_book",
    sa.column("id", sa.Integer),
    sa.column("customer_id", sa.Integer),
    sa.column("is_default", sa.Boolean),
)


def upgrade() -> None:
    newest = (
        sa.select(sa.func.max(_BOOK.c.id))
        .where(_BOOK.c.is_default.is_(True))
        .group_by(_BOOK.c.customer_id)
    )
    op.execute(
        _BOOK.update()
        .where(_BOOK.c.is_default.is_(True), _BOOK.c.id.not_in(newest))
        .values(is_default=False)
    )
    op.create_index(
        "uq_address_book_default",
        "address_book",
        ["customer_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )


def downgrade() -> None:
    op.drop_index("uq_address_book_default", table_name="address_book")
