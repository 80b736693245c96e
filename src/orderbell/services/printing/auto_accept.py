"""A shop's auto-accept: paid orders accepted (and printed) at once, without staff."""

from __future__ import annotations

from sqlalchemy import select, update

from orderbell.domain.errors import NotFound
from orderbell.storage.database import Database
from orderbell.storage.tables import Shop


async def auto_accept(db: Database, shop_id: int) -> bool:
    """Whether the shop accepts paid orders at once.

    Raises:
        NotFound: no such shop.
    """
    async with db.sessions() as session:
        found = await session.scalar(select(Shop.auto_accept).where(Shop.id == shop_id))
    if found is None:
        raise NotFound(f"Shop {shop_id} not found.")
    return bool(found)


async def set_auto_accept(db: Database, shop_id: int, enabled: bool) -> bool:
    """Turn the shop's auto-accept on or off; returns the new setting.

    Raises:
        NotFound: no such shop.
    """
    async with db.transaction() as session:
        changed = await session.execute(
            update(Shop).where(Shop.id == shop_id).values(auto_accept=enabled).returning(Shop.id)
        )
        if changed.first() is None:
            raise NotFound(f"Shop {shop_id} not found.")
    return enabled
