"""Order housekeeping on a timer: orders left unpaid are cancelled, orders left
out for delivery are completed.

The original ran these as cron jobs in its one process: every minute it
cancelled orders unpaid for 15 minutes, and at 1am it completed the orders
still out for delivery. Here every server process runs both sweeps on an
interval, and each order is changed once however many processes sweep at
the same moment: a sweep takes its orders with ``SELECT ... FOR UPDATE SKIP
LOCKED``, so a second sweep skips the orders the first one holds, and once
the first commits they no longer match. (SQLite has no row locks, but its
writers are serialized by ``BEGIN IMMEDIATE``, and a sweep reads inside its
write transaction, with the same outcome.) A customer paying an order at the
moment it times out is serialized the same way: whichever locks the order
first wins, and the other sees the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select

from orderbell.domain.alerts import AlertType
from orderbell.domain.orders import Action, OrderState, OrderStatus, PayStatus, apply, settles
from orderbell.services.chores import Chores
from orderbell.services.outbox import Outbox, Work
from orderbell.storage.tables import Order, utcnow

log = logging.getLogger(__name__)

PAYMENT_TIMEOUT_REASON = "Not paid in time; cancelled automatically"
BATCH = 100


async def cancel_unpaid(
    outbox: Outbox, *, older_than: timedelta, now: datetime | None = None, batch: int = BATCH
) -> int:
    """Cancel the orders still waiting for payment ``older_than`` after they were
    placed (the original's 15 minutes by default); return how many."""
    cutoff = (now or utcnow()) - older_than

    def take(order: Order, at: datetime) -> None:
        order.cancel_reason = PAYMENT_TIMEOUT_REASON
        order.cancel_time = at

    return await _sweep(
        outbox,
        status=OrderStatus.PENDING_PAYMENT,
        since=Order.order_time.expression,
        cutoff=cutoff,
        action=Action.PAYMENT_TIMEOUT,
        change=take,
        batch=batch,
    )


async def complete_undelivered(
    outbox: Outbox, *, older_than: timedelta, now: datetime | None = None, batch: int = BATCH
) -> int:
    """Complete the orders still out for delivery ``older_than`` after they were
    paid; return how many. Their open alerts are marked handled (``complete``).

    There is no record of when an order left the shop, so the clock starts
    at payment, which is never later; ``older_than`` should be well above a
    normal delivery (three hours by default).
    """
    cutoff = (now or utcnow()) - older_than

    def take(order: Order, at: datetime) -> None:
        order.delivery_time = at

    return await _sweep(
        outbox,
        status=OrderStatus.DELIVERY_IN_PROGRESS,
        since=func.coalesce(Order.checkout_time, Order.order_time),
        cutoff=cutoff,
        action=Action.COMPLETE,
        change=take,
        batch=batch,
    )


async def _sweep(
    outbox: Outbox,
    *,
    status: OrderStatus,
    since: ColumnElement[datetime],
    cutoff: datetime,
    action: Action,
    change: Callable[[Order, datetime], None],
    batch: int,
) -> int:
    total = 0
    # Every round changes the status of the orders it took, so they never
    # match again; the bound only guards against a mistake in that.
    for _ in range(10_000):
        async with outbox.transaction() as work:
            orders = list(
                await work.session.scalars(
                    select(Order)
                    .where(Order.status == int(status), since < cutoff)
                    .order_by(Order.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            for order in orders:
                await _move(work, order, action, change)
        total += len(orders)
        if len(orders) < batch:
            break
    return total


async def _move(
    work: Work, order: Order, action: Action, change: Callable[[Order, datetime], None]
) -> None:
    transition = apply(OrderState(OrderStatus(order.status), PayStatus(order.pay_status)), action)
    order.status = int(transition.state.status)
    order.pay_status = int(transition.state.pay_status)
    change(order, utcnow())
    types = settles(action)
    if types:
        await work.handle_alerts(
            shop_id=order.shop_id,
            order_id=order.id,
            types=[AlertType(t) for t in types],
            action=action.value,
        )


class Schedule:
    """Runs the sweeps in the background of one server process.

    Safe to run in every process at once (see the module docstring). The
    first run of each sweep comes after a random part of its interval, so
    that processes started together do not all sweep together.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        payment_timeout: timedelta,
        payment_check_interval: float,
        delivery_timeout: timedelta,
        delivery_check_interval: float,
    ) -> None:
        self._outbox = outbox
        self._payment_timeout = payment_timeout
        self._payment_interval = payment_check_interval
        self._delivery_timeout = delivery_timeout
        self._delivery_interval = delivery_check_interval
        self._chores = Chores("order sweeps")
        self.cancelled = 0
        self.completed = 0

    async def cancel_unpaid(self) -> int:
        """One sweep of unpaid orders now; returns how many were cancelled."""
        count = await cancel_unpaid(self._outbox, older_than=self._payment_timeout)
        self.cancelled += count
        if count:
            log.info("cancelled %d orders not paid within %s", count, self._payment_timeout)
        return count

    async def complete_undelivered(self) -> int:
        """One sweep of orders out for delivery now; returns how many were completed."""
        count = await complete_undelivered(self._outbox, older_than=self._delivery_timeout)
        self.completed += count
        if count:
            log.info("completed %d orders out for delivery over %s", count, self._delivery_timeout)
        return count

    def start(self) -> None:
        """Start both sweeps in the background."""
        self._chores.every(self._payment_interval, self.cancel_unpaid, spread=True)
        self._chores.every(self._delivery_interval, self.complete_undelivered, spread=True)

    async def stop(self) -> None:
        """Stop the sweeps (a sweep in progress is rolled back and redone by the next run)."""
        await self._chores.stop()
