"""Orders from submit to completion: what customers and shops do to an order.

Every change goes through ``domain.orders.apply`` for the rules and through
``Outbox.transaction`` so that an alert is stored with the change that
causes it and published after commit. Rows are locked before a change
(``services.locks``): two payments of one order serialize and the second
sees the first's result (one alert, not two); a cart submitted twice at once
becomes one order, and the second submit finds it empty.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, case, delete, null, select, update

from orderbell.domain.addresses import full_address
from orderbell.domain.alerts import AlertType
from orderbell.domain.carts import cart_shop
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.escalation import AUTO_CANCEL_REASON, AUTO_CANCELLED_MESSAGE
from orderbell.domain.events import EventType
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
from orderbell.services import shop_status
from orderbell.services.locks import lock_customer, lock_order
from orderbell.services.outbox import Outbox, Work
from orderbell.storage.tables import (
    AddressBook,
    Dish,
    Merchant,
    Order,
    OrderDetail,
    Shop,
    ShoppingCart,
    utcnow,
)

EMPTY_CART = "The shopping cart is empty."


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
    if transition.state.status is not OrderStatus.TO_BE_CONFIRMED:
        # No longer waiting for the shop: off the escalation ladder.
        order.escalation_due_at = None
    return transition


def paid_event(work: Work, order_id: int, number: str, shop_id: int, amount: object) -> None:
    """Record the ``order.paid`` event of an order that has just been paid."""
    work.emit(
        EventType.ORDER_PAID,
        shop_id,
        orderId=order_id,
        orderNumber=number,
        shopId=shop_id,
        amount=str(amount),
    )


async def _pay(work: Work, order: Order) -> bool:
    transition = _move(order, Action.PAY)
    if not transition.changed:
        return False
    order.checkout_time = utcnow()
    # The ladder looks at the order on its next turn and schedules its steps.
    order.escalation_due_at = order.checkout_time
    shop = await work.session.get(Shop, order.shop_id)
    if shop is not None and shop.auto_accept:
        _move(order, Action.CONFIRM)
        order.accepted_at = order.checkout_time
    await work.raise_alert(
        shop_id=order.shop_id,
        type=AlertType.NEW_ORDER,
        order_id=order.id,
        order_number=order.number,
    )
    paid_event(work, order.id, order.number, order.shop_id, order.amount)
    if order.accepted_at is not None:
        await _accepted_by_itself(work, order.id, order.number, order.shop_id, order.amount)
    return True


async def _accepted_by_itself(
    work: Work, order_id: int, number: str, shop_id: int, amount: object
) -> None:
    """A shop with auto-accept took a paid order at once: its new-order alert is
    handled as soon as it is raised (the consoles ring once, nothing repeats) and
    ``order.accepted`` is emitted, which prints its ticket."""
    await work.handle_alerts(
        shop_id=shop_id, order_id=order_id, types=[AlertType.NEW_ORDER], action=AUTO_ACCEPT
    )
    work.emit(
        EventType.ORDER_ACCEPTED,
        shop_id,
        orderId=order_id,
        orderNumber=number,
        shopId=shop_id,
        amount=str(amount),
        waitedSeconds=0,
        acceptedBy=None,
        auto=True,
    )


async def submit(outbox: Outbox, customer_id: int, form: Submission, *, auto_pay: bool) -> Order:
    """Turn the customer's cart into an order of the cart's shop, priced on the server.

    The customer's row is locked first, so that the cart read here is the
    one deleted here: of submits of one cart at once, one makes the order
    and the others find the cart empty.

    Raises:
        NotFound: the address is not the customer's.
        BusinessError: the cart is empty, or holds dishes of more than one shop,
            or the shop is not taking orders (closed or paused).
    """
    async with outbox.transaction() as work:
        session = work.session
        await lock_customer(session, customer_id)
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
        # The dish's own shop, not only the line's: an order never holds
        # another shop's dish.
        shop_id = cart_shop([cart.shop_id for cart, _ in rows] + [dish.shop_id for _, dish in rows])
        if shop_id is None:
            raise BusinessError(EMPTY_CART)
        # Held until commit: a close waits for this submit, or this submit sees the close.
        shop = await shop_status.lock_for_order(session, shop_id)
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
            address=full_address(
                address.province_name, address.city_name, address.district_name, address.detail
            ),
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


#: What paying does to an unpaid order, as the domain says: the happy path of
#: ``pay`` is one conditional UPDATE to this state.
_PAID = apply(OrderState(OrderStatus.PENDING_PAYMENT, PayStatus.UNPAID), Action.PAY).state
#: ... or to this one, when the shop accepts paid orders by itself (auto-accept).
_AUTO_ACCEPTED = apply(_PAID, Action.CONFIRM).state
#: The ``action`` of a new-order alert handled by auto-accept.
AUTO_ACCEPT = "auto_accept"


_ORDERS = cast(Table, Order.__table__)
_SHOPS = cast(Table, Shop.__table__)
#: Whether the order's shop has auto-accept on: read inside the payment's one
#: UPDATE (a primary-key lookup), so the common path stays one statement.
_AUTO = select(_SHOPS.c.auto_accept).where(_SHOPS.c.id == _ORDERS.c.shop_id).scalar_subquery()
_PAY_UNPAID = (
    update(_ORDERS)
    .where(
        _ORDERS.c.number == bindparam("order_number"),
        _ORDERS.c.user_id == bindparam("customer"),
        _ORDERS.c.status == int(OrderStatus.PENDING_PAYMENT),
        _ORDERS.c.pay_status == int(PayStatus.UNPAID),
    )
    .values(
        status=case((_AUTO, int(_AUTO_ACCEPTED.status)), else_=int(_PAID.status)),
        pay_status=int(_PAID.pay_status),
        checkout_time=bindparam("now"),
        # Accepted at once: off the escalation ladder.
        escalation_due_at=case((_AUTO, null()), else_=bindparam("now")),
        accepted_at=case((_AUTO, bindparam("now")), else_=null()),
    )
    .returning(
        _ORDERS.c.id,
        _ORDERS.c.shop_id,
        _ORDERS.c.number,
        _ORDERS.c.amount,
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
    """Mark the customer's order paid and raise its new-order alert; when the shop
    has auto-accept on, the order is accepted at once too (its alert handled, its
    ticket printed).

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
            paid_event(work, paid.id, paid.number, paid.shop_id, paid.amount)
            if paid.status == int(_AUTO_ACCEPTED.status):
                await _accepted_by_itself(work, paid.id, paid.number, paid.shop_id, paid.amount)
            return Payment(paid.id, paid.number, paid.status, paid.pay_status, paid.checkout_time)
        # Not unpaid (or not there): the domain decides between "already paid,
        # nothing to do" and a refusal that says why.
        order = await lock_order(
            work.session, Order.number == order_number, Order.user_id == customer_id
        )
        if order is None:
            raise NotFound("Order not found.")
        await _pay(work, order)
        return Payment(order.id, order.number, order.status, order.pay_status, order.checkout_time)


async def cancel_by_customer(outbox: Outbox, customer_id: int, order_id: int) -> Order:
    """Cancel the customer's own order while the shop has not accepted it (refunding if paid)."""
    async with outbox.transaction() as work:
        order = await lock_order(work.session, Order.id == order_id, Order.user_id == customer_id)
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


async def act_as_shop(
    outbox: Outbox,
    shop_id: int,
    order_id: int,
    action: Action,
    *,
    merchant_id: int | None = None,
    reason: str | None = None,
    prep_minutes: int | None = None,
) -> Order:
    """A merchant's move on an order of their own shop: confirm, reject, cancel,
    send out for delivery, complete. Confirming with ``prep_minutes`` sets the
    order's estimated time to that many minutes after acceptance.

    Raises:
        NotFound: no such order in this shop.
        BusinessError: the move is not allowed in the order's state.
    """
    async with outbox.transaction() as work:
        order = await lock_order(work.session, Order.id == order_id, Order.shop_id == shop_id)
        if order is None:
            raise NotFound("Order not found.")
        if order.status == OrderStatus.CANCELLED and order.cancel_reason == AUTO_CANCEL_REASON:
            # Lost to the escalation ladder (it locked the order first): say so.
            raise BusinessError(AUTO_CANCELLED_MESSAGE)
        _move(order, action)
        if action is Action.REJECT:
            order.rejection_reason = reason
        elif action is Action.MERCHANT_CANCEL:
            order.cancel_reason = reason
        elif action is Action.COMPLETE:
            order.delivery_time = utcnow()
        elif action is Action.CONFIRM:
            order.accepted_at = utcnow()
            if prep_minutes is not None:
                order.estimated_delivery_time = order.accepted_at + timedelta(minutes=prep_minutes)
        merchant = await work.session.get(Merchant, merchant_id) if merchant_id else None
        await _settle_alerts(work, order, action, merchant)
        if action is Action.CONFIRM:
            work.emit(
                EventType.ORDER_ACCEPTED,
                order.shop_id,
                orderId=order.id,
                orderNumber=order.number,
                shopId=order.shop_id,
                amount=str(order.amount),
                waitedSeconds=_waited(order),
                acceptedBy={"id": merchant.id, "name": merchant.name} if merchant else None,
            )
        return order


def _waited(order: Order) -> int | None:
    """Whole seconds from payment to acceptance."""
    if order.checkout_time is None or order.accepted_at is None:
        return None
    return int((order.accepted_at - order.checkout_time).total_seconds())
