"""What people do with alerts besides moving an order: a customer's reminder
(催单), the shop's reply to it, and an alert put away by hand.

Each locks the order row first, as every order move does (``services.locks``),
or the alert row when it is of another order system's order, and so reads
the alerts only once no one else is raising or handling them:
a reminder answered, or an alert dismissed, by several consoles at once is
answered once, and the others are told there is nothing left to answer.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from orderbell.domain.alerts import AlertType
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.events import EventType
from orderbell.domain.orders import OrderStatus, PayStatus
from orderbell.domain.reminders import (
    ReminderAllowance,
    ReminderPolicy,
    Reply,
    check_reminder,
    check_reminder_timing,
    reply_text,
)
from orderbell.services.locks import lock_order
from orderbell.services.outbox import Outbox
from orderbell.storage.tables import AlertRow, Merchant, Order, utcnow

DEFAULT_REMINDER_POLICY = ReminderPolicy()


async def remind(
    outbox: Outbox,
    customer_id: int,
    order_id: int,
    policy: ReminderPolicy = DEFAULT_REMINDER_POLICY,
) -> ReminderAllowance:
    """Ask the shop to hurry (催单): raises a reminder alert if the rules allow.

    The order row is locked and its earlier reminders are counted from the
    alert log in the transaction that stores the new one, so the limits hold
    however many requests and server processes race.

    Returns:
        How many reminders are left, and when the next one is allowed.

    Raises:
        NotFound: no such order of this customer.
        BusinessError: the order is not paid, or already completed or cancelled.
        TooManyRequests: too early after payment, too soon after the last
            reminder, or the order has had all its reminders.
    """
    async with outbox.transaction() as work:
        order = await lock_order(work.session, Order.id == order_id)
        if order is None:
            raise NotFound("Order not found.")
        check_reminder(
            order_customer_id=order.user_id,
            customer_id=customer_id,
            status=OrderStatus(order.status),
            pay_status=PayStatus(order.pay_status),
        )
        earlier = list(
            await work.session.scalars(
                select(AlertRow.created_at).where(
                    AlertRow.order_id == order.id, AlertRow.type == int(AlertType.REMINDER)
                )
            )
        )
        allowance = check_reminder_timing(
            policy, now=utcnow(), paid_at=order.checkout_time, earlier=earlier
        )
        alert = await work.raise_alert(
            shop_id=order.shop_id,
            type=AlertType.REMINDER,
            order_id=order.id,
            order_number=order.number,
        )
        work.emit(
            EventType.REMINDER_CREATED,
            order.shop_id,
            orderId=order.id,
            orderNumber=order.number,
            shopId=order.shop_id,
            amount=str(order.amount),
            reminder=len(earlier) + 1,
            alertSeq=alert.seq,
        )
        # The next one is counted from the stored alert's time, as a refusal
        # will count it: both answers name the same moment.
        if allowance.next_allowed_at is not None:
            allowance = replace(allowance, next_allowed_at=alert.created_at + policy.interval)
        return allowance


async def reply_to_reminder(
    outbox: Outbox,
    shop_id: int,
    order_id: int,
    choice: Reply,
    *,
    merchant_id: int,
    text: str | None = None,
) -> str:
    """Answer the open reminders of an order; the customer sees the reply in the order.

    Returns the reply's text.

    Raises:
        NotFound: no such order in this shop.
        BusinessError: a bad custom text, or no open reminder on the order.
    """
    reply = reply_text(choice, text)
    async with outbox.transaction() as work:
        order = await lock_order(work.session, Order.id == order_id, Order.shop_id == shop_id)
        if order is None:
            raise NotFound("Order not found.")
        merchant = await work.session.get(Merchant, merchant_id)
        handled = await work.handle_alerts(
            shop_id=shop_id,
            order_id=order_id,
            types=[AlertType.REMINDER],
            action="reply",
            by=merchant_id,
            by_name=merchant.name if merchant else None,
            reply=reply,
        )
        if not handled:
            raise BusinessError("This order has no open reminder to answer.")
    return reply


async def dismiss_alert(outbox: Outbox, shop_id: int, seq: int, *, merchant_id: int) -> None:
    """Mark one open alert of the shop handled by hand (``dismissed``): for alerts
    no order move here can settle, such as those of another order system.

    Raises:
        NotFound: no open alert with this seq in the shop.
    """
    missing = NotFound(f"No open alert {seq} in your shop.")
    is_open = (AlertRow.shop_id == shop_id, AlertRow.seq == seq, AlertRow.handled_at.is_(None))
    async with outbox.transaction() as work:
        session = work.session
        order_id = await session.scalar(select(AlertRow.order_id).where(*is_open))
        # The order first, as its moves lock it before its alerts; then the
        # alert itself, which is all an alert of another order system has.
        if order_id is not None:
            await lock_order(session, Order.id == order_id)
        if await session.scalar(select(AlertRow.id).where(*is_open).with_for_update()) is None:
            raise missing
        merchant = await session.get(Merchant, merchant_id)
        handled = await work.handle_alerts(
            shop_id=shop_id,
            seq=seq,
            action="dismissed",
            by=merchant_id,
            by_name=merchant.name if merchant else None,
        )
        if not handled:  # pragma: no cover - the locked row is open
            raise missing
