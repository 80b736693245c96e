"""The response-time report's query and the ack writes, on SQLite and PostgreSQL:
the same numbers from both, and the earliest ack of two processes stays."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from orderbell.services.accounts import create_shop
from orderbell.services.alert_acks import AlertAcks
from orderbell.services.alert_report import alert_report
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Customer, Order
from tests.support.clocks import Clock

UTC = ZoneInfo("UTC")
DAY = date(2026, 3, 10)


async def test_the_report_and_the_acks_on_each_database(database_url: str) -> None:
    db = Database(database_url)
    try:
        shop = await create_shop(db, "Report")
        paid = datetime(2026, 3, 10, 4, 0)  # 12:00 in Shanghai
        async with db.transaction() as session:
            customer = Customer(phone="13700000000", name="c", password_hash="x")
            session.add(customer)
            await session.flush()
            # (seconds to accept, seconds to the first ring, reminders, how it ended)
            plan = [(20, 2.5, 0, None), (40, None, 2, None), (None, 7.5, 1, "expired")]
            for i, (wait, ring, reminders, end) in enumerate(plan):
                at = paid + timedelta(minutes=i)
                order = Order(
                    shop_id=shop.id,
                    number=f"R{shop.id}-{i}",
                    status=6 if end else 3,
                    pay_status=2 if end else 1,
                    user_id=customer.id,
                    address_book_id=0,
                    amount=Decimal("10.00"),
                    checkout_time=at,
                    accepted_at=None if wait is None else at + timedelta(seconds=wait),
                )
                session.add(order)
                await session.flush()
                seq = 10 * i + 1
                session.add(
                    AlertRow(
                        shop_id=shop.id,
                        seq=seq,
                        type=1,
                        order_id=order.id,
                        order_number=order.number,
                        content="x",
                        handled_action=end,
                        first_rung_at=None if ring is None else at + timedelta(seconds=ring),
                    )
                )
                session.add_all(
                    AlertRow(
                        shop_id=shop.id,
                        seq=seq + 1 + r,
                        type=2,
                        order_id=order.id,
                        order_number=order.number,
                        content="x",
                    )
                    for r in range(reminders)
                )
        report = await alert_report(db, shop.id, DAY, DAY, ZoneInfo("Asia/Shanghai"))
        numbers = {k: v for k, v in report.items() if k != "hours"}
        assert numbers == {
            "begin": "2026-03-10",
            "end": "2026-03-10",
            "timeZone": "Asia/Shanghai",
            "ordersPaid": 3,
            "ordersAccepted": 2,
            "ordersAutoCancelled": 1,
            "ordersRung": 2,
            "ringMedianSeconds": 5.0,
            "ringP90Seconds": 7.0,
            "acceptMedianSeconds": 30.0,
            "acceptP90Seconds": 38.0,
            "reminders": 3,
            "remindersPerOrder": 1.0,
        }
        assert report["hours"][12]["ordersPaid"] == 3
        # In UTC the same orders are paid at 4 o'clock.
        assert (await alert_report(db, shop.id, DAY, DAY, UTC))["hours"][4]["ordersPaid"] == 3

        # Two processes heard the first alert rung; the one that heard it later writes last.
        clock = Clock(datetime(2026, 3, 10, 4, 0, 1, tzinfo=UTC))
        early, late = AlertAcks(db, clock=clock.utcnow), AlertAcks(db, clock=clock.utcnow)
        early.record(shop.id, 1, "rung")
        early.record(shop.id, 11, "shown")
        clock.advance(60)
        late.record(shop.id, 1, "rung")
        await early.flush()
        await late.flush()
        async with db.sessions() as session:
            rows = (
                await session.execute(
                    select(AlertRow.seq, AlertRow.first_shown_at, AlertRow.first_rung_at)
                    .where(AlertRow.shop_id == shop.id, AlertRow.seq.in_([1, 11]))
                    .order_by(AlertRow.seq)
                )
            ).all()
        first = datetime(2026, 3, 10, 4, 0, 1)
        assert [tuple(r) for r in rows] == [(1, None, first), (11, first, None)]
    finally:
        await db.dispose()
