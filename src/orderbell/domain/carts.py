"""The cart's one rule beyond quantities: it holds the dishes of one shop.

A takeout order goes to one shop, which cooks and delivers it, so a cart
that mixed shops could not become one order. A dish of another shop is
refused, saying what to do, rather than emptying the cart behind the
customer's back (docs/decisions/cart-one-shop.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orderbell.domain.errors import BusinessError

CLEAN_CART = "DELETE /user/shoppingCart/clean"


@dataclass(frozen=True, slots=True)
class ShopName:
    """A shop as a message names it."""

    id: int
    name: str


def cart_shop(line_shops: Iterable[int]) -> int | None:
    """The shop of a cart's lines (``None`` for an empty cart).

    Raises:
        BusinessError: the lines are of more than one shop (a cart left so
            by an older version); it says how to start again.
    """
    shops = set(line_shops)
    if len(shops) > 1:
        raise BusinessError(
            "Your cart holds dishes of more than one shop, and an order goes to one shop: "
            f"empty the cart ({CLEAN_CART}) and add the dishes of one shop.",
            data={"cartShopIds": sorted(shops)},
        )
    return next(iter(shops), None)


def admit(cart: ShopName | None, dish: ShopName) -> None:
    """Check that a dish of ``dish`` may join a cart of ``cart`` (``None``: empty).

    Raises:
        BusinessError: the cart holds another shop's dishes; the message names
            both shops and what to do, ``data`` their ids.
    """
    if cart is None or cart.id == dish.id:
        return
    raise BusinessError(
        f"Your cart holds dishes of another shop ({cart.name}), and a cart holds one shop's "
        f"dishes: submit that order, or empty the cart ({CLEAN_CART}), before adding dishes "
        f"of {dish.name}.",
        data={"cartShopId": cart.id, "dishShopId": dish.id},
    )
