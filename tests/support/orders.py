"""Orders for tests: unpaid ones put straight into the database (setup only; paying
goes over HTTP), orders placed over the API, and the alert log as stored."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Order, OrderDetail, utcnow
from tests.support.servers import Api, ShopKit


async def seed_unpaid_orders(
    database_url: str, *, shop_id: int, dish_id: int, customer_id: int, count: int
) -> list[tuple[int, str]]:
    """Put ``count`` unpaid orders straight into the database (setup only; paying goes over HTTP)."""
    db = Database(database_url)
    made: list[tuple[int, str]] = []
    try:
        async with db.transaction() as session:
            base = utcnow().strftime("%Y%m%d%H%M%S%f")
            for i in range(count):
                order = Order(
                    shop_id=shop_id,
                    number=f"T{base}{shop_id:04d}{i:05d}",
                    status=1,
                    pay_status=0,
                    user_id=customer_id,
                    address_book_id=0,
                    amount=Decimal("35.00"),
                    pack_amount=Decimal("1.00"),
                    delivery_fee=Decimal("6.00"),
                    phone="13900000000",
                    address="测试路 1 号",
                    consignee="李四",
                )
                session.add(order)
                await session.flush()
                session.add(
                    OrderDetail(
                        order_id=order.id,
                        name="宫保鸡丁",
                        dish_id=dish_id,
                        number=1,
                        amount=Decimal("28.00"),
                    )
                )
                made.append((order.id, order.number))
    finally:
        await db.dispose()
    return made


async def logged_seqs(database_url: str, shop_id: int) -> list[int]:
    """The seqs of the shop's alerts in the log, in order."""
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            rows = await session.scalars(
                select(AlertRow.seq).where(AlertRow.shop_id == shop_id).order_by(AlertRow.seq)
            )
            return [int(s) for s in rows]
    finally:
        await db.dispose()


async def place_orders(api: Api, kit: ShopKit, count: int) -> list[dict[str, Any]]:
    """``count`` unpaid orders of the shop by one new customer (one after another:
    a customer has one cart). Each item is ``{"token", "number", "id"}``."""
    token, address = await api.new_customer()
    orders = []
    for _ in range(count):
        data = await api.place_order(token, address, [kit.dish_ids[0]])
        orders.append({"token": token, "number": data["orderNumber"], "id": data["id"]})
    return orders


async def place_many(
    apis: Sequence[Api], kit: ShopKit, count: int, customers: int
) -> list[dict[str, Any]]:
    """``count`` unpaid orders from ``customers`` customers working in parallel,
    spread over the servers of ``apis``."""
    per = [count // customers + (1 if i < count % customers else 0) for i in range(customers)]
    batches = await asyncio.gather(
        *(place_orders(apis[i % len(apis)], kit, n) for i, n in enumerate(per) if n)
    )
    return [order for batch in batches for order in batch]
