"""What a shop's console shows of the shop itself: its name, and its usual
preparation time (the default of "accept with a prep time")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orderbell.domain.errors import NotFound
from orderbell.storage.database import Database
from orderbell.storage.tables import Shop


@dataclass(frozen=True, slots=True)
class ShopProfile:
    """A shop's name and usual preparation time."""

    id: int
    name: str
    prep_minutes: int

    def public(self) -> dict[str, Any]:
        """As ``GET /admin/shop/profile`` gives it."""
        return {"id": self.id, "name": self.name, "prepMinutes": self.prep_minutes}


async def profile(db: Database, shop_id: int) -> ShopProfile:
    """The shop's profile.

    Raises:
        NotFound: no such shop.
    """
    async with db.sessions() as session:
        shop = await session.get(Shop, shop_id)
        if shop is None:
            raise NotFound("Shop not found.")
        return ShopProfile(shop.id, shop.name, shop.prep_minutes)


async def set_prep_minutes(db: Database, shop_id: int, minutes: int) -> ShopProfile:
    """Set the shop's usual preparation time (checked by the caller's schema).

    Raises:
        NotFound: no such shop.
    """
    async with db.transaction() as session:
        shop = await session.get(Shop, shop_id)
        if shop is None:
            raise NotFound("Shop not found.")
        shop.prep_minutes = minutes
        return ShopProfile(shop.id, shop.name, shop.prep_minutes)
