"""The demo shops, menus, logins and customer that ``orderbell demo`` seeds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.shop_status import ShopStatus
from orderbell.security import hash_password
from orderbell.storage.database import Database
from orderbell.storage.tables import AddressBook, Customer, Dish, Merchant, Shop

DEMO_PASSWORD = "demo1234"
DEMO_CUSTOMER_PHONE = "13800000001"


@dataclass(frozen=True)
class DemoShop:
    """A shop of the demo, with its menu (name, price) and merchant login."""

    name: str
    username: str
    staff_name: str
    menu: tuple[tuple[str, str], ...]


DEMO_SHOPS = (
    DemoShop(
        "Demo Kitchen",
        "demo",
        "Demo Manager",
        (("宫保鸡丁", "28.00"), ("鱼香肉丝", "24.00"), ("米饭", "2.00"), ("酸梅汤", "6.00")),
    ),
    DemoShop(
        "Second Kitchen",
        "demo2",
        "Second Manager",
        (("牛肉面", "22.00"), ("凉拌黄瓜", "9.00"), ("可乐", "4.00")),
    ),
)


async def seed_demo(db: Database) -> list[str]:
    """Create whatever of the demo is missing; return what was created.

    Idempotent: shops are found by their merchant's username, the customer by
    phone, so running it twice changes nothing the second time. Two runs at
    once (two deployments starting together) both end well: the one whose
    merchant or customer row collides with the other's unique login rolls
    back whole and looks again, finding what the other made.
    """
    for _ in range(2):
        try:
            async with db.transaction() as session:
                return await _seed(session)
        except IntegrityError:
            continue
    async with db.transaction() as session:
        return await _seed(session)


async def _seed(session: AsyncSession) -> list[str]:
    created: list[str] = []
    for spec in DEMO_SHOPS:
        merchant = await session.scalar(select(Merchant).where(Merchant.username == spec.username))
        if merchant is not None:
            continue
        # Open from the start, so that the walk through the demo can order at once.
        shop = Shop(
            name=spec.name,
            pack_fee=Decimal("1.00"),
            delivery_fee=Decimal("6.00"),
            alert_seq=0,
            status=ShopStatus.OPEN.value,
        )
        session.add(shop)
        await session.flush()
        session.add_all(
            Dish(shop_id=shop.id, name=name, price=Decimal(price)) for name, price in spec.menu
        )
        session.add(
            Merchant(
                shop_id=shop.id,
                username=spec.username,
                name=spec.staff_name,
                password_hash=hash_password(DEMO_PASSWORD),
            )
        )
        created.append(f"shop {shop.id} {spec.name!r} with merchant login {spec.username!r}")
    customer = await session.scalar(select(Customer).where(Customer.phone == DEMO_CUSTOMER_PHONE))
    if customer is None:
        customer = Customer(
            phone=DEMO_CUSTOMER_PHONE,
            name="Demo Customer",
            password_hash=hash_password(DEMO_PASSWORD),
        )
        session.add(customer)
        await session.flush()
        session.add(
            AddressBook(
                customer_id=customer.id,
                consignee="张三",
                sex="1",
                phone=DEMO_CUSTOMER_PHONE,
                province_name="北京市",
                city_name="北京市",
                district_name="海淀区",
                detail="中关村大街1号",
                label="公司",
                is_default=True,
            )
        )
        created.append(f"customer {DEMO_CUSTOMER_PHONE}")
    return created
