"""Orders from submit to completion, and the alerts they raise.

Every change goes through ``domain.orders.apply`` for the rules and through
``Outbox.transaction`` so that an alert is stored with the change that
causes it and published after commit. Rows are read ``FOR UPDATE`` before a
change, so that two concurrent payments of one order serialize and the
second sees the first's result (one alert, not two).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

from sqlalchemy import Select, Table, and_, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.alerts import AlertType
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.orders import (
    Action,
    Line,
    OrderState,
    OrderStatus,
    PayStatus,
    Transition,
    apply,
    quote,
    settles,
)
from orderbell.domain.reminders import (
    ReminderAllowance,
    ReminderPolicy,
    Reply,
    check_reminder,
    check_reminder_timing,
    reply_text,
)
from orderbell.services.outbox import Outbox, Work
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import (
    AddressBook,
    AlertRow,
    Dish,
    Merchant,
    Order,
    OrderDetail,
    Shop,
    ShoppingCart,
    utcnow,
)

DEFAULT_REMINDER_POLICY = ReminderPolicy()


@dataclass(frozen=True, slots=True)
class Submission:
    """What a customer sends with an order (the amount is not among it)."""

    address_book_id: int
    remark: str = ""
    pay_method: int = 1
    estimated_delivery_time: datetime | None = None
    delivery_status: int = 1
    tableware_number: int = 0
    tableware_status: int = 1


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


def new_order_number() -> str:
    """A millisecond timestamp, as the original's, plus four random digits to be unique."""
    return f"{time.time_ns() // 1_000_000}{secrets.randbelow(10_000):04d}"


def _state(order: Order) -> OrderState:
    return OrderState(OrderStatus(order.status), PayStatus(order.pay_status))


def _move(order: Order, action: Action) -> Transition:
    transition = apply(_state(order), action)
    order.status = int(transition.state.status)
    order.pay_status = int(transition.state.pay_status)
    if transition.state.status is OrderStatus.CANCELLED and transition.changed:
        order.cancel_time = utcnow()
    return transition


async def _pay(work: Work, order: Order) -> bool:
    transition = _move(order, Action.PAY)
    if not transition.changed:
        return False
    order.checkout_time = utcnow()
    await work.raise_alert(
        shop_id=order.shop_id,
        type=AlertType.NEW_ORDER,
        order_id=order.id,
        order_number=order.number,
    )
    return True


async def submit(outbox: Outbox, customer_id: int, form: Submission, *, auto_pay: bool) -> Order:
    """Turn the customer's cart into an order of the cart's shop, priced on the server.

    Raises:
        NotFound: the address is not the customer's.
        BusinessError: the cart is empty.
    """
    async with outbox.transaction() as work:
        session = work.session
        address = await session.get(AddressBook, form.address_book_id)
        if address is None or address.customer_id != customer_id:
            raise NotFound("Address not found; please choose one of your addresses.")
        # Today's prices from the dish table, not what was in the cart when added.
        rows = (
            await session.execute(
                select(ShoppingCart, Dish)
                .join(Dish, Dish.id == ShoppingCart.dish_id)
                .where(ShoppingCart.customer_id == customer_id)
                .order_by(ShoppingCart.id)
            )
        ).all()
        if not rows:
            raise BusinessError("The shopping cart is empty.")
        shop = await session.get(Shop, rows[0][0].shop_id)
        if shop is None:  # pragma: no cover - foreign key keeps it
            raise NotFound("Shop not found.")
        price = quote(
            [Line(dish.price, cart.number) for cart, dish in rows],
            pack_fee_per_item=shop.pack_fee,
            delivery_fee=shop.delivery_fee,
        )
        order = Order(
            shop_id=shop.id,
            number=new_order_number(),
            status=int(OrderStatus.PENDING_PAYMENT),
            pay_status=int(PayStatus.UNPAID),
            user_id=customer_id,
            address_book_id=address.id,
            order_time=utcnow(),
            pay_method=form.pay_method,
            amount=price.total,
            pack_amount=price.pack_amount,
            delivery_fee=price.delivery_fee,
            remark=form.remark,
            phone=address.phone,
            address=f"{address.province_name}{address.city_name}{address.district_name}{address.detail}",
            consignee=address.consignee,
            estimated_delivery_time=form.estimated_delivery_time,
            delivery_status=form.delivery_status,
            tableware_number=form.tableware_number,
            tableware_status=form.tableware_status,
        )
        session.add(order)
        await session.flush()
        session.add_all(
            OrderDetail(
                order_id=order.id,
                name=dish.name,
                image=dish.image,
                dish_id=dish.id,
                number=cart.number,
                amount=dish.price,
            )
            for cart, dish in rows
        )
        await session.execute(delete(ShoppingCart).where(ShoppingCart.customer_id == customer_id))
        if auto_pay:
            await _pay(work, order)
        await session.flush()
        return order


async def _locked(session: AsyncSession, *conditions: object) -> Order | None:
    order: Order | None = await session.scalar(
        select(Order).where(*conditions).with_for_update()  # type: ignore[arg-type]
    )
    return order


#: What paying does to an unpaid order, as the domain says: the happy path of
#: ``pay`` is one conditional UPDATE to this state.
_PAID = apply(OrderState(OrderStatus.PENDING_PAYMENT, PayStatus.UNPAID), Action.PAY).state


_ORDERS = cast(Table, Order.__table__)
_PAY_UNPAID = (
    update(_ORDERS)
    .where(
        _ORDERS.c.number == bindparam("order_number"),
        _ORDERS.c.user_id == bindparam("customer"),
        _ORDERS.c.status == int(OrderStatus.PENDING_PAYMENT),
        _ORDERS.c.pay_status == int(PayStatus.UNPAID),
    )
    .values(
        status=int(_PAID.status), pay_status=int(_PAID.pay_status), checkout_time=bindparam("now")
    )
    .returning(
        _ORDERS.c.id,
        _ORDERS.c.shop_id,
        _ORDERS.c.number,
        _ORDERS.c.status,
        _ORDERS.c.pay_status,
        _ORDERS.c.checkout_time,
    )
)


@dataclass(frozen=True, slots=True)
class Payment:
    """The order as a payment left it."""

    id: int
    number: str
    status: int
    pay_status: int
    checkout_time: datetime | None


async def pay(outbox: Outbox, customer_id: int, order_number: str) -> Payment:
    """Mark the customer's order paid and raise its new-order alert.

    Paying an order that is already paid changes nothing and raises nothing,
    so a retried payment callback is harmless.

    Raises:
        NotFound: no such order of this customer.
        BusinessError: the order can no longer be paid (it was cancelled).
    """
    async with outbox.transaction() as work:
        # The common case in one statement: the WHERE clause is the state the
        # move starts from, so a concurrent or repeated payment matches nothing.
        paid = (
            await work.session.execute(
                _PAY_UNPAID,
                {"order_number": order_number, "customer": customer_id, "now": utcnow()},
            )
        ).first()
        if paid is not None:
            await work.raise_alert(
                shop_id=paid.shop_id,
                type=AlertType.NEW_ORDER,
                order_id=paid.id,
                order_number=paid.number,
            )
            return Payment(paid.id, paid.number, paid.status, paid.pay_status, paid.checkout_time)
        # Not unpaid (or not there): the domain decides between "already paid,
        # nothing to do" and a refusal that says why.
        order = await _locked(
            work.session, Order.number == order_number, Order.user_id == customer_id
        )
        if order is None:
            raise NotFound("Order not found.")
        await _pay(work, order)
        return Payment(order.id, order.number, order.status, order.pay_status, order.checkout_time)


async def cancel_by_customer(outbox: Outbox, customer_id: int, order_id: int) -> Order:
    """Cancel the customer's own order while the shop has not accepted it (refunding if paid)."""
    async with outbox.transaction() as work:
        order = await _locked(work.session, Order.id == order_id, Order.user_id == customer_id)
        if order is None:
            raise NotFound("Order not found.")
        _move(order, Action.CUSTOMER_CANCEL)
        order.cancel_reason = "Cancelled by the customer"
        await _settle_alerts(work, order, Action.CUSTOMER_CANCEL)
        return order


async def _settle_alerts(
    work: Work, order: Order, action: Action, merchant: Merchant | None = None
) -> None:
    types = [AlertType(t) for t in settles(action)]
    if types:
        await work.handle_alerts(
            shop_id=order.shop_id,
            order_id=order.id,
            types=types,
            action=action.value,
            by=merchant.id if merchant else None,
            by_name=merchant.name if merchant else None,
        )


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
        order = await _locked(work.session, Order.id == order_id)
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
        # The next one is counted from the stored alert's time, as a refusal
        # will count it: both answers name the same moment.
        if allowance.next_allowed_at is not None:
            allowance = replace(allowance, next_allowed_at=alert.created_at + policy.interval)
        return allowance


async def act_as_shop(
    outbox: Outbox,
    shop_id: int,
    order_id: int,
    action: Action,
    *,
    merchant_id: int | None = None,
    reason: str | None = None,
) -> Order:
    """A merchant's move on an order of their own shop: confirm, reject, cancel,
    send out for delivery, complete.

    Raises:
        NotFound: no such order in this shop.
        BusinessError: the move is not allowed in the order's state.
    """
    async with outbox.transaction() as work:
        order = await _locked(work.session, Order.id == order_id, Order.shop_id == shop_id)
        if order is None:
            raise NotFound("Order not found.")
        _move(order, action)
        if action is Action.REJECT:
            order.rejection_reason = reason
        elif action is Action.MERCHANT_CANCEL:
            order.cancel_reason = reason
        elif action is Action.COMPLETE:
            order.delivery_time = utcnow()
        merchant = await work.session.get(Merchant, merchant_id) if merchant_id else None
        await _settle_alerts(work, order, action, merchant)
        return order


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
        order = await work.session.get(Order, order_id)
        if order is None or order.shop_id != shop_id:
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


async def repeat(db: Database, customer_id: int, order_id: int) -> None:
    """Put the dishes of an earlier order back in the cart ("再来一单")."""
    async with db.transaction() as session:
        order = await session.get(Order, order_id)
        if order is None or order.user_id != customer_id:
            raise NotFound("Order not found.")
        details = list(
            await session.scalars(select(OrderDetail).where(OrderDetail.order_id == order_id))
        )
        await session.execute(delete(ShoppingCart).where(ShoppingCart.customer_id == customer_id))
        for detail in details:
            dish = await session.get(Dish, detail.dish_id) if detail.dish_id else None
            if dish is None or dish.status != 1:
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


async def dismiss_alert(outbox: Outbox, shop_id: int, seq: int, *, merchant_id: int) -> None:
    """Mark one open alert of the shop handled by hand (``dismissed``): for alerts
    no order move here can settle, such as those of another order system.

    Raises:
        NotFound: no open alert with this seq in the shop.
    """
    async with outbox.transaction() as work:
        merchant = await work.session.get(Merchant, merchant_id)
        handled = await work.handle_alerts(
            shop_id=shop_id,
            seq=seq,
            action="dismissed",
            by=merchant_id,
            by_name=merchant.name if merchant else None,
        )
        if not handled:
            raise NotFound(f"No open alert {seq} in your shop.")
