"""Orders for the console tests, placed and moved over the real HTTP API."""

from __future__ import annotations

from typing import Any

from tests.e2e.server import Api, ShopKit


async def paid_order(
    api: Api,
    kit: ShopKit,
    *,
    dishes: list[int] | None = None,
    remark: str = "",
    customer: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """A new customer (unless given) orders from ``kit`` and pays; the submit data + ``customer``."""
    token, address = customer or await api.new_customer()
    order = await api.place_order(token, address, dishes or [kit.dish_ids[0]], remark)
    await api.pay(token, order["orderNumber"])
    return order | {"customer": token}


async def remind(api: Api, order: dict[str, Any]) -> None:
    await api.ok("GET", f"/user/order/reminder/{order['id']}", token=order["customer"])


async def shop_view(api: Api, kit: ShopKit, order_id: int) -> dict[str, Any]:
    """The order as its shop sees it (GET /admin/order/details)."""
    token = await api.merchant_token(kit.username)
    data: dict[str, Any] = await api.ok(
        "GET", f"/admin/order/details/{order_id}", token=token, header="token"
    )
    return data


async def customer_view(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    """The order as its customer sees it (GET /user/order/orderDetail)."""
    data: dict[str, Any] = await api.ok(
        "GET", f"/user/order/orderDetail/{order['id']}", token=order["customer"]
    )
    return data
