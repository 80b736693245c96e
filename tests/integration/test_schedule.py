"""The scheduled order sweeps, run by two "processes" at once (two engines, two
brokers) on the real databases: every order is changed once."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

from sqlalchemy import select

from orderbell.domain.alerts import AlertType
from orderbell.domain.errors import BusinessError
from orderbell.domain.orders import Action, OrderStatus, PayStatus
from orderbell.services import alert_handling
from orderbell.services import orders as order_service
from orderbell.services.accounts import register_customer
from orderbell.services.addresses import add_address
from orderbell.services.carts import add_dish
from orderbell.services.outbox import Outbox
from orderbell.services.schedule import (
    PAYMENT_TIMEOUT_REASON,
    cancel_unpaid,
    complete_undelivered,
)
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Order
from tests.support.processes import Process
from tests.support.servers import ShopKit, new_shop

_phones = itertools.count(int(time.time() * 1000) % 10**7)


async def new_customer(db: Database) -> tuple[int, int]:
    customer = await register_customer(
        db, phone=f"137{next(_phones) % 10**8:08d}", password="secret123", name="顾客"
    )
    address = await add_address(
        db, customer.id, consignee="李四", phone="13700000000", detail="1号"
    )
    return customer.id, address.id


async def submit(outbox: Outbox, kit: ShopKit, customer: tuple[int, int]) -> Order:
    await add_dish(outbox.database, customer[0], kit.dish_ids[0])
    return await order_service.submit(
        outbox, customer[0], order_service.Submission(address_book_id=customer[1]), auto_pay=False
    )


async def age(db: Database, order_ids: list[int], by: timedelta) -> None:
    """Move the orders' placing and paying time back, as if time had passed."""
    async with db.transaction() as session:
        for order in await session.scalars(select(Order).where(Order.id.in_(order_ids))):
            order.order_time -= by
            if order.checkout_time is not None:
                order.checkout_time -= by


async def test_unpaid_orders_are_cancelled_once_by_concurrent_sweeps(
    processes: list[Process], database_url: str
) -> None:
    one, two = processes
    kit = await new_shop(database_url)
    customer = await new_customer(one.database)
    stale = [await submit(one.outbox, kit, customer) for _ in range(12)]
    fresh = await submit(one.outbox, kit, customer)
    await age(one.database, [o.id for o in stale], timedelta(minutes=16))

    counts = await asyncio.gather(
        *(
            cancel_unpaid(p.outbox, older_than=timedelta(minutes=15), batch=5)
            for p in (one, two, one, two)
        )
    )
    assert sum(counts) == 12, counts

    async with one.database.sessions() as session:
        rows = {
            o.id: o
            for o in await session.scalars(select(Order).where(Order.shop_id == kit.shop_id))
        }
    for order in stale:
        assert rows[order.id].status == OrderStatus.CANCELLED
        assert rows[order.id].pay_status == PayStatus.UNPAID
        assert rows[order.id].cancel_reason == PAYMENT_TIMEOUT_REASON
        assert rows[order.id].cancel_time is not None
    assert rows[fresh.id].status == OrderStatus.PENDING_PAYMENT
    # Nothing left to do, on either process.
    assert await cancel_unpaid(two.outbox, older_than=timedelta(minutes=15)) == 0


async def test_a_payment_racing_the_timeout_either_wins_or_is_refused(
    processes: list[Process], database_url: str
) -> None:
    one, two = processes
    kit = await new_shop(database_url)
    customer = await new_customer(one.database)
    orders = [await submit(one.outbox, kit, customer) for _ in range(8)]
    await age(one.database, [o.id for o in orders], timedelta(minutes=16))

    async def pay(order: Order) -> bool:
        try:
            await order_service.pay(two.outbox, customer[0], order.number)
        except BusinessError:
            return False
        return True

    results = await asyncio.gather(
        cancel_unpaid(one.outbox, older_than=timedelta(minutes=15), batch=3),
        *(pay(o) for o in orders),
    )
    cancelled, paid = results[0], results[1:]
    assert cancelled + sum(paid) == len(orders)

    async with one.database.sessions() as session:
        for order, was_paid in zip(orders, paid, strict=True):
            row = await session.get(Order, order.id)
            assert row is not None
            alerts = list(
                await session.scalars(select(AlertRow).where(AlertRow.order_id == order.id))
            )
            if was_paid:
                assert (row.status, len(alerts)) == (OrderStatus.TO_BE_CONFIRMED, 1)
            else:
                assert (row.status, alerts) == (OrderStatus.CANCELLED, [])


async def test_orders_left_out_for_delivery_are_completed_once(
    processes: list[Process], database_url: str
) -> None:
    one, two = processes
    kit = await new_shop(database_url)
    customer = await new_customer(one.database)
    out = []
    for _ in range(7):
        order = await submit(one.outbox, kit, customer)
        await order_service.pay(one.outbox, customer[0], order.number)
        for action in (Action.CONFIRM, Action.DELIVER):
            await order_service.act_as_shop(one.outbox, kit.shop_id, order.id, action)
        # A reminder while the food is on its way still waits for an answer
        # (sending the order out answered the ones before it).
        await alert_handling.remind(one.outbox, customer[0], order.id)
        out.append(order)
    await age(one.database, [o.id for o in out[:5]], timedelta(hours=4))
    for process in processes:
        await process.broker.subscribe(kit.shop_id)

    counts = await asyncio.gather(
        *(
            complete_undelivered(p.outbox, older_than=timedelta(hours=3), batch=2)
            for p in (one, two, two, one)
        )
    )
    assert sum(counts) == 5, counts

    async with one.database.sessions() as session:
        statuses = {
            o.id: (o.status, o.delivery_time is not None)
            for o in await session.scalars(select(Order).where(Order.shop_id == kit.shop_id))
        }
        reminders = {
            a.order_id: a
            for a in await session.scalars(
                select(AlertRow).where(
                    AlertRow.shop_id == kit.shop_id, AlertRow.type == int(AlertType.REMINDER)
                )
            )
        }
    for order in out[:5]:
        assert statuses[order.id] == (OrderStatus.COMPLETED, True)
        assert reminders[order.id].handled_action == "complete"
    for order in out[5:]:
        assert statuses[order.id] == (OrderStatus.DELIVERY_IN_PROGRESS, False)
        assert reminders[order.id].handled_at is None
    # One "handled" notice per open reminder, from whichever process took the order.
    handled = [n for p in processes for n in p.notices if n["type"] == "handled"]
    assert (
        sorted(n["alertSeq"] for n in handled)
        == sorted(  # type: ignore[type-var]
            reminders[o.id].seq for o in out[:5]
        )
    )
    assert {n["action"] for n in handled} == {"complete"}


async def test_sweeps_leave_other_states_alone(processes: list[Process], database_url: str) -> None:
    one, _ = processes
    kit = await new_shop(database_url)
    customer = await new_customer(one.database)
    paid = await submit(one.outbox, kit, customer)
    await order_service.pay(one.outbox, customer[0], paid.number)
    confirmed = await submit(one.outbox, kit, customer)
    await order_service.pay(one.outbox, customer[0], confirmed.number)
    await order_service.act_as_shop(one.outbox, kit.shop_id, confirmed.id, Action.CONFIRM)
    await age(one.database, [paid.id, confirmed.id], timedelta(days=2))

    assert await cancel_unpaid(one.outbox, older_than=timedelta(minutes=15)) == 0
    assert await complete_undelivered(one.outbox, older_than=timedelta(hours=3)) == 0
