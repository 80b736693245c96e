"""The order state machine and pricing, as pure functions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderbell.domain.errors import BusinessError
from orderbell.domain.orders import (
    Action,
    Line,
    OrderState,
    OrderStatus,
    PayStatus,
    apply,
    quote,
)

S = OrderStatus
P = PayStatus


def state(status: OrderStatus, pay: PayStatus) -> OrderState:
    return OrderState(status, pay)


@pytest.mark.parametrize(
    ("before", "action", "after"),
    [
        (state(S.PENDING_PAYMENT, P.UNPAID), Action.PAY, state(S.TO_BE_CONFIRMED, P.PAID)),
        (state(S.TO_BE_CONFIRMED, P.PAID), Action.CONFIRM, state(S.CONFIRMED, P.PAID)),
        (state(S.CONFIRMED, P.PAID), Action.DELIVER, state(S.DELIVERY_IN_PROGRESS, P.PAID)),
        (state(S.DELIVERY_IN_PROGRESS, P.PAID), Action.COMPLETE, state(S.COMPLETED, P.PAID)),
        (state(S.TO_BE_CONFIRMED, P.PAID), Action.REJECT, state(S.CANCELLED, P.REFUND)),
        (state(S.PENDING_PAYMENT, P.UNPAID), Action.CUSTOMER_CANCEL, state(S.CANCELLED, P.UNPAID)),
        (state(S.TO_BE_CONFIRMED, P.PAID), Action.CUSTOMER_CANCEL, state(S.CANCELLED, P.REFUND)),
        (state(S.CONFIRMED, P.PAID), Action.MERCHANT_CANCEL, state(S.CANCELLED, P.REFUND)),
        (state(S.PENDING_PAYMENT, P.UNPAID), Action.PAYMENT_TIMEOUT, state(S.CANCELLED, P.UNPAID)),
    ],
)
def test_allowed_moves(before: OrderState, action: Action, after: OrderState) -> None:
    result = apply(before, action)
    assert result.state == after
    assert result.changed


@pytest.mark.parametrize(
    ("before", "action"),
    [
        (state(S.PENDING_PAYMENT, P.UNPAID), Action.CONFIRM),
        (state(S.CONFIRMED, P.PAID), Action.CONFIRM),
        (state(S.CONFIRMED, P.PAID), Action.REJECT),
        (state(S.TO_BE_CONFIRMED, P.PAID), Action.DELIVER),
        (state(S.CONFIRMED, P.PAID), Action.COMPLETE),
        (state(S.CONFIRMED, P.PAID), Action.CUSTOMER_CANCEL),
        (state(S.COMPLETED, P.PAID), Action.MERCHANT_CANCEL),
        (state(S.CANCELLED, P.UNPAID), Action.PAY),
        (state(S.CANCELLED, P.REFUND), Action.PAY),
        (state(S.CANCELLED, P.REFUND), Action.CUSTOMER_CANCEL),
        (state(S.TO_BE_CONFIRMED, P.PAID), Action.PAYMENT_TIMEOUT),
    ],
)
def test_refused_moves_say_why(before: OrderState, action: Action) -> None:
    with pytest.raises(BusinessError) as caught:
        apply(before, action)
    assert caught.value.message.endswith(".")
    assert "order" in caught.value.message


@pytest.mark.parametrize(
    "status", [S.TO_BE_CONFIRMED, S.CONFIRMED, S.DELIVERY_IN_PROGRESS, S.COMPLETED]
)
def test_paying_a_paid_order_changes_nothing(status: OrderStatus) -> None:
    before = state(status, P.PAID)
    result = apply(before, Action.PAY)
    assert result.state == before
    assert not result.changed


def test_quote_adds_items_pack_fee_per_item_and_delivery() -> None:
    q = quote(
        [Line(Decimal("28.00"), 2), Line(Decimal("2.50"), 3)],
        pack_fee_per_item=Decimal("1.00"),
        delivery_fee=Decimal("6.00"),
    )
    assert q.items_amount == Decimal("63.50")
    assert q.pack_amount == Decimal("5.00")
    assert q.delivery_fee == Decimal("6.00")
    assert q.total == Decimal("74.50")


def test_quote_refuses_empty_and_silly_quantities() -> None:
    fees = {"pack_fee_per_item": Decimal(1), "delivery_fee": Decimal(6)}
    with pytest.raises(BusinessError, match="empty"):
        quote([], **fees)
    with pytest.raises(BusinessError, match="quantity"):
        quote([Line(Decimal(1), 0)], **fees)
    with pytest.raises(BusinessError, match="quantity"):
        quote([Line(Decimal(1), 100)], **fees)
