"""Auto-accept on both payment paths (the one-statement UPDATE of ``pay`` and the
locked path of a submit that pays at once), on a real SQLite database: the order
is accepted, off the ladder, its alert raised and handled, and one print job per
printer is written in the same transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from orderbell.broker.memory import MemoryBroker
from orderbell.domain.events import Event, EventType
from orderbell.domain.orders import Action, OrderStatus
from orderbell.services import orders
from orderbell.services.accounts import create_shop, register_customer
from orderbell.services.addresses import add_address
from orderbell.services.carts import add_dish
from orderbell.services.outbox import Outbox
from orderbell.services.printing import printers
from orderbell.services.printing.auto_accept import set_auto_accept
from orderbell.services.printing.jobs import record, with_print_jobs
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from orderbell.storage.tables import AlertRow, Dish, Order, Outgoing


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'auto.db'}"
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url)
    yield db
    await db.dispose()


async def _setup(db: Database, auto: bool) -> tuple[Outbox, int, int, int]:
    outbox = Outbox(db, MemoryBroker())
    outbox.record_events = with_print_jobs(outgoing.record_events)
    shop = (await create_shop(db, "自动")).id
    async with db.transaction() as session:
        dish = Dish(shop_id=shop, name="饺子", price=Decimal("20.00"))
        session.add(dish)
        await session.flush()
        dish_id = dish.id
    await printers.add(db, shop_id=shop, kind="escpos-tcp", address="10.0.0.7:9100")
    await printers.add(db, shop_id=shop, kind="cloudprnt")
    await set_auto_accept(db, shop, auto)
    customer = (await register_customer(db, phone="13900000001", password="x" * 8, name="c")).id
    address = await add_address(
        db, customer, consignee="李四", phone="13900000001", detail="路 1 号", sex="1"
    )
    await add_dish(db, customer, dish_id)
    return outbox, shop, customer, address.id


async def _state(db: Database, order_id: int) -> tuple[Order, list[AlertRow], list[Outgoing]]:
    async with db.sessions() as session:
        order = await session.get(Order, order_id)
        alerts = list(await session.scalars(select(AlertRow).where(AlertRow.order_id == order_id)))
        rows = list(
            await session.scalars(
                select(Outgoing)
                .where(Outgoing.kind.in_((outgoing.PRINT, outgoing.CLOUDPRNT)))
                .order_by(Outgoing.id)
            )
        )
    assert order is not None
    return order, alerts, rows


@pytest.mark.parametrize("auto_pay", [False, True], ids=["pay", "submit-and-pay"])
async def test_a_paid_order_of_an_auto_accept_shop_is_accepted_and_printed(
    database: Database, auto_pay: bool
) -> None:
    outbox, _shop, customer, address = await _setup(database, True)
    order = await orders.submit(
        outbox, customer, orders.Submission(address_book_id=address), auto_pay=auto_pay
    )
    if not auto_pay:
        paid = await orders.pay(outbox, customer, order.number)
        assert paid.status == OrderStatus.CONFIRMED
    found, alerts, rows = await _state(database, order.id)
    assert found.status == OrderStatus.CONFIRMED and found.pay_status == 1
    assert found.accepted_at is not None and found.escalation_due_at is None
    assert len(alerts) == 1 and alerts[0].handled_action == orders.AUTO_ACCEPT
    assert sorted(r.kind for r in rows) == [outgoing.CLOUDPRNT, outgoing.PRINT]
    assert {r.message_id for r in rows} == {f"order-{order.id}"}
    # Paying again changes nothing and prints nothing more.
    await orders.pay(outbox, customer, order.number)
    assert len((await _state(database, order.id))[2]) == 2


async def test_without_auto_accept_a_paid_order_waits_and_prints_on_acceptance(
    database: Database,
) -> None:
    outbox, shop, customer, address = await _setup(database, False)
    order = await orders.submit(
        outbox, customer, orders.Submission(address_book_id=address), auto_pay=False
    )
    paid = await orders.pay(outbox, customer, order.number)
    assert paid.status == OrderStatus.TO_BE_CONFIRMED
    found, alerts, rows = await _state(database, order.id)
    assert found.escalation_due_at is not None and found.accepted_at is None
    assert alerts[0].handled_action is None and rows == []
    await orders.act_as_shop(outbox, shop, order.id, Action.CONFIRM)
    assert len((await _state(database, order.id))[2]) == 2


async def test_an_order_accepted_twice_over_still_has_one_job_per_printer(
    database: Database,
) -> None:
    outbox, shop, customer, address = await _setup(database, True)
    order = await orders.submit(
        outbox, customer, orders.Submission(address_book_id=address), auto_pay=True
    )
    again = Event(EventType.ORDER_ACCEPTED, shop, {"orderId": order.id, "orderNumber": "x"})
    async with database.transaction() as session:
        await record(session, [again, again])
    assert len((await _state(database, order.id))[2]) == 2
