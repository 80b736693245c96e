"""What a shop sells."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from orderbell.domain.errors import NotFound
from orderbell.storage.database import Database
from orderbell.storage.tables import Dish, Shop


@dataclass(frozen=True, slots=True)
class Menu:
    """A shop and the dishes it sells (whether or not it takes orders right now)."""

    shop: Shop
    dishes: list[Dish]


async def shop_menu(db: Database, shop_id: int) -> Menu:
    """``shop_id`` and the dishes on sale there.

    Raises:
        NotFound: no such shop.
    """
    async with db.sessions() as session:
        shop = await session.get(Shop, shop_id)
        if shop is None:
            raise NotFound(f"Shop {shop_id} not found.")
        rows = await session.scalars(
            select(Dish).where(Dish.shop_id == shop_id, Dish.status == 1).order_by(Dish.id)
        )
        return Menu(shop, list(rows))


async def list_dishes(db: Database, shop_id: int) -> list[Dish]:
    """The dishes on sale at ``shop_id``.

    Raises:
        NotFound: no such shop.
    """
    return (await shop_menu(db, shop_id)).dishes


async def list_shops(db: Database) -> list[Shop]:
    """Every shop."""
    async with db.sessions() as session:
        return list(await session.scalars(select(Shop).order_by(Shop.id)))
