"""When a customer may ask a shop to hurry (催单)."""

from __future__ import annotations

from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.orders import OrderStatus, PayStatus, describe

#: States in which a reminder makes sense: paid, and not yet finished.
REMINDABLE = frozenset(
    {OrderStatus.TO_BE_CONFIRMED, OrderStatus.CONFIRMED, OrderStatus.DELIVERY_IN_PROGRESS}
)


def check_reminder(
    *, order_customer_id: int, customer_id: int, status: OrderStatus, pay_status: PayStatus
) -> None:
    """Refuse a reminder that the rules do not allow; return quietly otherwise.

    Raises:
        NotFound: the order is not the customer's own (told as "not found", so
            that order ids of others cannot be probed).
        BusinessError: the order is not in a state in which a reminder helps.
    """
    if order_customer_id != customer_id:
        raise NotFound("Order not found.")
    if status not in REMINDABLE or pay_status is not PayStatus.PAID:
        raise BusinessError(f"Cannot remind the shop: the order is {describe(status)}.")
