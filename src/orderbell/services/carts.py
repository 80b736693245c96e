"""A customer's shopping cart: dishes of one shop, with quantities."""

from __future__ import annotations

from sqlalchemy import delete, select

from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.orders import MAX_QUANTITY
from orderbell.storage.database import Database
from orderbell.storage.tables import Dish, ShoppingCart


async def add_dish(db: Database, customer_id: int, dish_id: int) -> ShoppingCart:
    """Put one more of ``dish_id`` in the cart.

    Raises:
        NotFound: no such dish on sale.
        BusinessError: the cart holds another shop's dishes, or the quantity
            would pass the limit.
    """
    async with db.transaction() as session:
        dish = await session.get(Dish, dish_id)
        if dish is None or dish.status != 1:
            raise NotFound(f"Dish {dish_id} not found.")
        lines = list(
            await session.scalars(
                select(ShoppingCart).where(ShoppingCart.customer_id == customer_id)
            )
        )
        if any(line.shop_id != dish.shop_id for line in lines):
            raise BusinessError(
                "Your cart holds dishes of another shop; order those or clear the cart first."
            )
        line = next((x for x in lines if x.dish_id == dish_id), None)
        if line is None:
            line = ShoppingCart(
                customer_id=customer_id,
                shop_id=dish.shop_id,
                dish_id=dish.id,
                name=dish.name,
                image=dish.image,
                number=1,
                amount=dish.price,
            )
            session.add(line)
        elif line.number >= MAX_QUANTITY:
            raise BusinessError(f"At most {MAX_QUANTITY} of one dish per order.")
        else:
            line.number += 1
        await session.flush()
        return line


async def list_cart(db: Database, customer_id: int) -> list[ShoppingCart]:
    """The lines of the customer's cart."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(ShoppingCart)
            .where(ShoppingCart.customer_id == customer_id)
            .order_by(ShoppingCart.id)
        )
        return list(rows)


async def clean_cart(db: Database, customer_id: int) -> None:
    """Empty the customer's cart."""
    async with db.transaction() as session:
        await session.execute(delete(ShoppingCart).where(ShoppingCart.customer_id == customer_id))
