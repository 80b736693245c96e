"""Orders as customers and shops look at them: lists, one order, the shop's counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.errors import NotFound
from orderbell.domain.orders import OrderStatus
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import Order, OrderDetail


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order and its lines."""

    order: Order
    details: list[OrderDetail]
    reminder_reply: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing."""

    total: int
    records: list[OrderView]


async def _with_details(session: AsyncSession, orders: list[Order]) -> list[OrderView]:
    if not orders:
        return []
    details = await session.scalars(
        select(OrderDetail)
        .where(OrderDetail.order_id.in_([o.id for o in orders]))
        .order_by(OrderDetail.id)
    )
    by_order: dict[int, list[OrderDetail]] = {o.id: [] for o in orders}
    for detail in details:
        by_order[detail.order_id].append(detail)
    return [OrderView(o, by_order[o.id]) for o in orders]


async def _page(db: Database, query: Select[Order], page: int, page_size: int) -> Page:
    async with db.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await session.scalars(
            query.order_by(Order.order_time.desc(), Order.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
        return Page(int(total or 0), await _with_details(session, list(rows)))


async def history(
    db: Database, customer_id: int, *, page: int, page_size: int, status: int | None
) -> Page:
    """The customer's orders, newest first."""
    query = select(Order).where(Order.user_id == customer_id)
    if status is not None:
        query = query.where(Order.status == status)
    return await _page(db, query, page, page_size)


async def search(
    db: Database,
    shop_id: int,
    *,
    page: int,
    page_size: int,
    number: str | None = None,
    phone: str | None = None,
    status: int | None = None,
    begin: datetime | None = None,
    end: datetime | None = None,
) -> Page:
    """The shop's orders matching the filters, newest first."""
    conditions = [Order.shop_id == shop_id]
    if number:
        conditions.append(Order.number.contains(number, autoescape=True))
    if phone:
        conditions.append(Order.phone.contains(phone, autoescape=True))
    if status is not None:
        conditions.append(Order.status == status)
    if begin is not None:
        conditions.append(Order.order_time >= begin)
    if end is not None:
        conditions.append(Order.order_time <= end)
    return await _page(db, select(Order).where(and_(*conditions)), page, page_size)


async def order_of_customer(db: Database, customer_id: int, order_id: int) -> OrderView:
    """One of the customer's orders with its lines.

    Raises:
        NotFound: no such order of this customer.
    """
    return await _order_view(db, order_id, lambda order: order.user_id == customer_id)


async def order_of_shop(db: Database, shop_id: int, order_id: int) -> OrderView:
    """One of the shop's orders with its lines.

    Raises:
        NotFound: no such order in this shop.
    """
    return await _order_view(db, order_id, lambda order: order.shop_id == shop_id)


async def _order_view(db: Database, order_id: int, mine: Callable[[Order], bool]) -> OrderView:
    async with db.sessions() as session:
        order = await session.get(Order, order_id)
        # Someone else's order is "not found", so ids cannot be probed.
        if order is None or not mine(order):
            raise NotFound("Order not found.")
        view = (await _with_details(session, [order]))[0]
        return replace(view, reminder_reply=await alert_log.latest_reply(session, order.id))


async def statistics(db: Database, shop_id: int) -> dict[str, int]:
    """How many of the shop's orders wait to be confirmed, are confirmed, are out."""
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(Order.status, func.count())
                .where(Order.shop_id == shop_id)
                .group_by(Order.status)
            )
        ).all()
    counts = {int(status): int(n) for status, n in rows}
    return {
        "toBeConfirmed": counts.get(OrderStatus.TO_BE_CONFIRMED, 0),
        "confirmed": counts.get(OrderStatus.CONFIRMED, 0),
        "deliveryInProgress": counts.get(OrderStatus.DELIVERY_IN_PROGRESS, 0),
    }
