"""Who a shop's staff are, as devices and logs name them."""

from __future__ import annotations

from sqlalchemy import select

from orderbell.storage.database import Database
from orderbell.storage.tables import Merchant


async def merchant_name(db: Database, merchant_id: int) -> str | None:
    """The display name of merchant ``merchant_id`` (None if there is none)."""
    async with db.sessions() as session:
        name: str | None = await session.scalar(
            select(Merchant.name).where(Merchant.id == merchant_id)
        )
        return name
