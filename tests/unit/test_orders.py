"""The order state machine, pricing and the one-shop cart, as pure functions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderbell.domain.carts import ShopName, admit, cart_shop
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


# The cart holds one shop's dishes (domain/carts.py).


def test_an_empty_cart_has_no_shop_and_a_cart_of_one_shop_has_that_shop() -> None:
    assert cart_shop([]) is None
    assert cart_shop([7, 7, 7]) == 7


def test_a_cart_of_two_shops_is_refused_with_what_to_do() -> None:
    with pytest.raises(BusinessError) as caught:
        cart_shop([7, 8, 7])
    assert "more than one shop" in caught.value.message
    assert "/user/shoppingCart/clean" in caught.value.message
    assert caught.value.data == {"cartShopIds": [7, 8]}


def test_a_dish_joins_an_empty_cart_or_a_cart_of_its_shop() -> None:
    admit(None, ShopName(2, "Second Kitchen"))
    admit(ShopName(2, "Second Kitchen"), ShopName(2, "Second Kitchen"))


def test_a_dish_of_another_shop_is_refused_naming_both_shops_and_what_to_do() -> None:
    with pytest.raises(BusinessError) as caught:
        admit(ShopName(1, "Demo Kitchen"), ShopName(2, "Second Kitchen"))
    message = caught.value.message
    assert "another shop (Demo Kitchen)" in message
    assert "submit that order" in message
    assert "empty the cart (DELETE /user/shoppingCart/clean)" in message
    assert message.endswith("before adding dishes of Second Kitchen.")
    assert caught.value.data == {"cartShopId": 1, "dishShopId": 2}
