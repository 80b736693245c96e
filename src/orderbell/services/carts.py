"""A customer's shopping cart: dishes of one shop, with quantities.

Every change to a cart first locks the customer's row (``services.locks``):
two adds of one dish at once both count, and dishes of two shops added at
once never share a cart, however many server processes serve them.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.carts import ShopName, admit, cart_shop
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.orders import MAX_QUANTITY
from orderbell.services.locks import lock_customer
from orderbell.storage.database import Database
from orderbell.storage.tables import Dish, Order, OrderDetail, Shop, ShoppingCart


async def _shop_name(session: AsyncSession, shop_id: int) -> ShopName:
    name = await session.scalar(select(Shop.name).where(Shop.id == shop_id))
    return ShopName(shop_id, name or f"shop {shop_id}")


async def add_dish(db: Database, customer_id: int, dish_id: int) -> ShoppingCart:
    """Put one more of ``dish_id`` in the cart.

    Raises:
        NotFound: no such dish on sale.
        BusinessError: the cart holds another shop's dishes (the message says
            to submit or empty it first), or the quantity would pass the limit.
    """
    async with db.transaction() as session:
        await lock_customer(session, customer_id)
        dish = await session.get(Dish, dish_id)
        if dish is None or dish.status != 1:
            raise NotFound(f"Dish {dish_id} not found.")
        lines = list(
            await session.scalars(
                select(ShoppingCart).where(ShoppingCart.customer_id == customer_id)
            )
        )
        shop_id = cart_shop(line.shop_id for line in lines)
        if shop_id is not None and shop_id != dish.shop_id:
            admit(await _shop_name(session, shop_id), await _shop_name(session, dish.shop_id))
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
        await lock_customer(session, customer_id)
        await session.execute(delete(ShoppingCart).where(ShoppingCart.customer_id == customer_id))


async def repeat(db: Database, customer_id: int, order_id: int) -> None:
    """Put the dishes of an earlier order back in the cart ("再来一单"), in place
    of what it held: an order is of one shop, and so is the cart it fills.

    Raises:
        NotFound: no such order of this customer.
    """
    async with db.transaction() as session:
        await lock_customer(session, customer_id)
        order = await session.get(Order, order_id)
        if order is None or order.user_id != customer_id:
            raise NotFound("Order not found.")
        details = list(
            await session.scalars(select(OrderDetail).where(OrderDetail.order_id == order_id))
        )
        await session.execute(delete(ShoppingCart).where(ShoppingCart.customer_id == customer_id))
        for detail in details:
            dish = await session.get(Dish, detail.dish_id) if detail.dish_id else None
            if dish is None or dish.status != 1 or dish.shop_id != order.shop_id:
                continue
            session.add(
                ShoppingCart(
                    customer_id=customer_id,
                    shop_id=order.shop_id,
                    dish_id=dish.id,
                    name=dish.name,
                    image=dish.image,
                    number=detail.number,
                    amount=dish.price,
                )
            )
