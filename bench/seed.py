"""Setting up orderbell's database for a benchmark, fast.

The fan-out scenario makes its one shop, merchant and API key with
orderbell's own services and logs in over HTTP. The platform mix needs
thousands of shops, merchants and unpaid orders: those go straight into
the tables in bulk (setup only, like the end-to-end tests'
``seed_unpaid_orders``), every login shares one password hash, and tokens
are signed with the secret the server is started with. Paying, the thing
measured, goes over HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import orjson
from sqlalchemy import insert, select

from bench import http
from orderbell.security import Identity, TokenIssuer, hash_password
from orderbell.services.accounts import create_merchant, create_shop
from orderbell.services.publishing import create_api_key
from orderbell.storage.database import Database
from orderbell.storage.tables import Customer, Dish, Merchant, Order, OrderDetail, Shop

PASSWORD = "bench-secret-1"


@dataclass
class FanoutShop:
    shop_id: int
    username: str
    password: str
    api_key: str


async def one_shop(database_url: str) -> FanoutShop:
    """A shop, a merchant login and a publish API key, made as the CLI makes them."""
    db = Database(database_url)
    try:
        shop = await create_shop(db, "Bench Kitchen")
        username = f"bench{shop.id}"
        await create_merchant(
            db, shop_id=shop.id, username=username, password=PASSWORD, name=username
        )
        key = await create_api_key(db, shop.id, "bench")
        return FanoutShop(shop.id, username, PASSWORD, key.key)
    finally:
        await db.dispose()


async def merchant_login(port: int, username: str, password: str) -> str:
    """A merchant token from ``POST /admin/employee/login``."""
    connection = http.Connection("127.0.0.1", port)
    try:
        status, body = await connection.request(
            http.head("POST", "/admin/employee/login", port, {"Content-Type": "application/json"}),
            orjson.dumps({"username": username, "password": password}),
        )
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"merchant login failed: {status} {body[:300]!r}")
    return str(orjson.loads(body)["data"]["token"])


@dataclass
class Platform:
    """Shops with one merchant token each, customers with tokens, unpaid orders."""

    merchant_tokens: dict[int, str]  # shop id -> token
    customer_tokens: list[str]
    #: (order id, order number, index into customer_tokens), in the order they are to be paid
    orders: list[tuple[int, str, int]]


async def platform(
    database_url: str, *, shops: int, customers: int, orders: int, secret: str
) -> Platform:
    """``shops`` shops (a merchant and a dish each), ``customers`` customers and ``orders``
    unpaid orders spread round-robin over shops and customers."""
    db = Database(database_url)
    password_hash = hash_password(PASSWORD)
    stamp = time.strftime("%H%M%S")
    chunk = 2000
    try:
        async with db.transaction() as session:
            for start in range(0, shops, chunk):
                await session.execute(
                    insert(Shop),
                    [
                        {
                            "name": f"Bench {i}",
                            "pack_fee": Decimal("1.00"),
                            "delivery_fee": Decimal("6.00"),
                            "alert_seq": 0,
                        }
                        for i in range(start, min(shops, start + chunk))
                    ],
                )
            shop_ids = list(
                await session.scalars(
                    select(Shop.id).where(Shop.name.like("Bench %")).order_by(Shop.id)
                )
            )[-shops:]
            for start in range(0, shops, chunk):
                part = shop_ids[start : start + chunk]
                await session.execute(
                    insert(Merchant),
                    [
                        {
                            "shop_id": sid,
                            "username": f"b{stamp}m{sid}",
                            "name": f"m{sid}",
                            "password_hash": password_hash,
                        }
                        for sid in part
                    ],
                )
                await session.execute(
                    insert(Dish),
                    [
                        {"shop_id": sid, "name": "宫保鸡丁", "price": Decimal("28.00")}
                        for sid in part
                    ],
                )
            merchants = {
                shop_id: merchant_id
                for merchant_id, shop_id in await session.execute(
                    select(Merchant.id, Merchant.shop_id).where(Merchant.shop_id.in_(shop_ids))
                )
            }
            dishes = {
                shop_id: dish_id
                for dish_id, shop_id in await session.execute(
                    select(Dish.id, Dish.shop_id).where(Dish.shop_id.in_(shop_ids))
                )
            }
            phone0 = int(time.time()) % 10**7
            await session.execute(
                insert(Customer),
                [
                    {
                        "phone": f"17{(phone0 + i) % 10**9:09d}",
                        "name": "顾客",
                        "password_hash": password_hash,
                    }
                    for i in range(customers)
                ],
            )
            customer_ids = list(
                await session.scalars(
                    select(Customer.id).order_by(Customer.id.desc()).limit(customers)
                )
            )
            customer_ids.reverse()
            numbers: list[str] = []
            for start in range(0, orders, chunk):
                rows = []
                for i in range(start, min(orders, start + chunk)):
                    number = f"P{stamp}{i:08d}"
                    numbers.append(number)
                    rows.append(
                        {
                            "shop_id": shop_ids[i % shops],
                            "number": number,
                            "status": 1,
                            "pay_status": 0,
                            "user_id": customer_ids[i % customers],
                            "address_book_id": 0,
                            "amount": Decimal("35.00"),
                            "pack_amount": Decimal("1.00"),
                            "delivery_fee": Decimal("6.00"),
                            "phone": "13900000000",
                            "address": "测试路 1 号",
                            "consignee": "李四",
                        }
                    )
                await session.execute(insert(Order), rows)
            ids: dict[str, tuple[int, int]] = {}
            for start in range(0, orders, chunk):
                part_numbers = numbers[start : start + chunk]
                for order_id, number, shop_id in await session.execute(
                    select(Order.id, Order.number, Order.shop_id).where(
                        Order.number.in_(part_numbers)
                    )
                ):
                    ids[number] = (order_id, shop_id)
            for start in range(0, orders, chunk):
                await session.execute(
                    insert(OrderDetail),
                    [
                        {
                            "order_id": ids[number][0],
                            "name": "宫保鸡丁",
                            "dish_id": dishes[ids[number][1]],
                            "number": 1,
                            "amount": Decimal("28.00"),
                        }
                        for number in numbers[start : start + chunk]
                    ],
                )
    finally:
        await db.dispose()
    issuer = TokenIssuer(secret, ttl=timedelta(hours=6))
    return Platform(
        merchant_tokens={
            sid: issuer.issue(Identity("merchant", merchants[sid], sid)) for sid in shop_ids
        },
        customer_tokens=[issuer.issue(Identity("customer", cid)) for cid in customer_ids],
        orders=[(ids[n][0], n, i % customers) for i, n in enumerate(numbers)],
    )
