"""Order states, the moves between them, and what an order costs.

The numbers are those of the original system, so that its clients read them
unchanged: status 1..6 and pay status 0..2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, IntEnum

from orderbell.domain.errors import BusinessError

CENT = Decimal("0.01")
MAX_QUANTITY = 99


class OrderStatus(IntEnum):
    """Where an order is in its life."""

    PENDING_PAYMENT = 1
    TO_BE_CONFIRMED = 2
    CONFIRMED = 3
    DELIVERY_IN_PROGRESS = 4
    COMPLETED = 5
    CANCELLED = 6


class PayStatus(IntEnum):
    """Whether the customer's money is with the shop."""

    UNPAID = 0
    PAID = 1
    REFUND = 2


class Action(Enum):
    """Something a customer, a merchant or the clock does to an order."""

    PAY = "pay"
    CUSTOMER_CANCEL = "customer_cancel"
    CONFIRM = "confirm"
    REJECT = "reject"
    MERCHANT_CANCEL = "merchant_cancel"
    DELIVER = "deliver"
    COMPLETE = "complete"
    PAYMENT_TIMEOUT = "payment_timeout"


@dataclass(frozen=True, slots=True)
class OrderState:
    """The two numbers that together say where an order stands."""

    status: OrderStatus
    pay_status: PayStatus


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of an action: the new state, and whether anything changed.

    ``changed`` is false only for a repeated payment, which is accepted and
    ignored so that a retried payment callback raises no second alert.
    """

    state: OrderState
    changed: bool


_STATUS_TEXT = {
    OrderStatus.PENDING_PAYMENT: "waiting for payment",
    OrderStatus.TO_BE_CONFIRMED: "waiting for the shop to accept it",
    OrderStatus.CONFIRMED: "accepted by the shop",
    OrderStatus.DELIVERY_IN_PROGRESS: "out for delivery",
    OrderStatus.COMPLETED: "completed",
    OrderStatus.CANCELLED: "cancelled",
}


def describe(status: OrderStatus) -> str:
    """A phrase for messages: "the order is <describe(status)>"."""
    return _STATUS_TEXT[status]


def _refused(state: OrderState, what: str) -> BusinessError:
    return BusinessError(f"Cannot {what}: the order is {describe(state.status)}.")


def _cancelled(state: OrderState) -> OrderState:
    pay = PayStatus.REFUND if state.pay_status is PayStatus.PAID else state.pay_status
    return OrderState(OrderStatus.CANCELLED, pay)


def apply(state: OrderState, action: Action) -> Transition:
    """Return the state that ``action`` leads to from ``state``.

    Raises:
        BusinessError: the action is not allowed in this state; the message
            says why in words a customer or merchant understands.
    """
    s = state.status
    if action is Action.PAY:
        if s is OrderStatus.PENDING_PAYMENT and state.pay_status is PayStatus.UNPAID:
            return Transition(OrderState(OrderStatus.TO_BE_CONFIRMED, PayStatus.PAID), True)
        if state.pay_status is PayStatus.PAID:
            return Transition(state, False)
        raise _refused(state, "pay")
    if action is Action.CUSTOMER_CANCEL:
        if s in (OrderStatus.PENDING_PAYMENT, OrderStatus.TO_BE_CONFIRMED):
            return Transition(_cancelled(state), True)
        if s is OrderStatus.CANCELLED:
            raise BusinessError("The order is already cancelled.")
        raise BusinessError(f"Cannot cancel: the order is {describe(s)}; please contact the shop.")
    if action is Action.PAYMENT_TIMEOUT:
        if s is OrderStatus.PENDING_PAYMENT:
            return Transition(_cancelled(state), True)
        raise _refused(state, "cancel for payment timeout")
    if action is Action.CONFIRM:
        if s is OrderStatus.TO_BE_CONFIRMED:
            return Transition(OrderState(OrderStatus.CONFIRMED, state.pay_status), True)
        raise _refused(state, "accept the order")
    if action is Action.REJECT:
        if s is OrderStatus.TO_BE_CONFIRMED:
            return Transition(_cancelled(state), True)
        raise _refused(state, "reject the order")
    if action is Action.MERCHANT_CANCEL:
        if s in (
            OrderStatus.PENDING_PAYMENT,
            OrderStatus.TO_BE_CONFIRMED,
            OrderStatus.CONFIRMED,
            OrderStatus.DELIVERY_IN_PROGRESS,
        ):
            return Transition(_cancelled(state), True)
        raise _refused(state, "cancel the order")
    if action is Action.DELIVER:
        if s is OrderStatus.CONFIRMED:
            return Transition(OrderState(OrderStatus.DELIVERY_IN_PROGRESS, state.pay_status), True)
        raise _refused(state, "send the order out for delivery")
    if action is Action.COMPLETE:
        if s is OrderStatus.DELIVERY_IN_PROGRESS:
            return Transition(OrderState(OrderStatus.COMPLETED, state.pay_status), True)
        raise _refused(state, "complete the order")
    raise AssertionError(f"unknown action {action!r}")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Line:
    """One dish in a cart or an order: its unit price and how many."""

    unit_price: Decimal
    quantity: int


@dataclass(frozen=True, slots=True)
class Quote:
    """What an order costs, computed on the server from the cart and the shop's fees."""

    items_amount: Decimal
    pack_amount: Decimal
    delivery_fee: Decimal

    @property
    def total(self) -> Decimal:
        """What the customer pays."""
        return self.items_amount + self.pack_amount + self.delivery_fee


def quote(lines: Iterable[Line], *, pack_fee_per_item: Decimal, delivery_fee: Decimal) -> Quote:
    """Price an order from its lines: dishes, one pack fee per item, one delivery fee.

    Raises:
        BusinessError: no lines, or a quantity outside 1..MAX_QUANTITY.
    """
    items = Decimal(0)
    count = 0
    for line in lines:
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise BusinessError(f"A dish quantity must be between 1 and {MAX_QUANTITY}.")
        items += line.unit_price * line.quantity
        count += line.quantity
    if count == 0:
        raise BusinessError("The shopping cart is empty.")
    return Quote(
        items_amount=items.quantize(CENT),
        pack_amount=(pack_fee_per_item * count).quantize(CENT),
        delivery_fee=delivery_fee.quantize(CENT),
    )


def settles(action: Action) -> tuple[int, ...]:
    """The alert types (1 new order, 2 reminder) that ``action`` handles for its order.

    Accepting or rejecting answers the new-order alert; an order that ends
    (rejected, cancelled, completed) leaves no reminder to answer either.
    Sending an order out for delivery answers its reminders (the food is on
    its way); a reminder raised after that still needs its own answer (see
    docs/decisions/reminders-of-orders-in-delivery.md).
    """
    if action is Action.CONFIRM:
        return (1,)
    if action is Action.DELIVER:
        return (2,)
    if action in (
        Action.REJECT,
        Action.MERCHANT_CANCEL,
        Action.CUSTOMER_CANCEL,
        Action.PAYMENT_TIMEOUT,
        Action.COMPLETE,
    ):
        return (1, 2)
    return ()
