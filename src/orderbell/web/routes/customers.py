"""Customer accounts, addresses, the menu and the cart (prefix ``/user``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from orderbell.domain.shop_status import refusal
from orderbell.security import Identity
from orderbell.services import accounts, addresses, carts, menu, shop_status
from orderbell.storage.tables import Shop as ShopRow
from orderbell.web.deps import Customer, Parts
from orderbell.web.envelope import ok
from orderbell.web.guards import client_address, login_throttle
from orderbell.web.schemas import DIGITS, AddressCreate, CartAdd, CustomerLogin, CustomerRegister

router = APIRouter(prefix="/user", tags=["customer"])


@router.post("/user/register")
async def register(body: CustomerRegister, parts: Parts) -> dict[str, Any]:
    """Sign up as a customer with a phone number and a password."""
    customer = await accounts.register_customer(
        parts.database, phone=body.phone, password=body.password, name=body.name
    )
    return ok({"id": customer.id, "phone": customer.phone, "name": customer.name})


@router.post("/user/login")
async def login(body: CustomerLogin, parts: Parts, request: Request) -> dict[str, Any]:
    """Log in as a customer; send the token back in the `authentication` header.

    Failed logins are limited per phone number and per client address
    (429 with `Retry-After` once over the limit)."""
    customer = await accounts.login_customer(
        parts.database,
        phone=body.phone,
        password=body.password,
        throttle=login_throttle(parts),
        address=client_address(request),
    )
    token = parts.tokens.issue(Identity("customer", customer.id))
    return ok({"id": customer.id, "phone": customer.phone, "name": customer.name, "token": token})


@router.post("/addressBook")
async def add_address(body: AddressCreate, me: Customer, parts: Parts) -> dict[str, Any]:
    """Add a delivery address (the first one becomes the default)."""
    address = await addresses.add_address(parts.database, me.user_id, **body.model_dump())
    return ok(parts.presenter.address(address))


@router.get("/addressBook/list")
async def list_addresses(me: Customer, parts: Parts) -> dict[str, Any]:
    """All of your delivery addresses."""
    rows = await addresses.list_addresses(parts.database, me.user_id)
    return ok([parts.presenter.address(a) for a in rows])


@router.get("/addressBook/default")
async def default_address(me: Customer, parts: Parts) -> dict[str, Any]:
    """Your default delivery address."""
    return ok(parts.presenter.address(await addresses.default_address(parts.database, me.user_id)))


@router.get("/shop/list")
async def list_shops(parts: Parts) -> dict[str, Any]:
    """The shops one can order from."""
    shops = await menu.list_shops(parts.database)
    return ok([_shop(s) for s in shops])


def _shop(shop: ShopRow) -> dict[str, Any]:
    state = shop_status.state_of(shop)
    return {
        "id": shop.id,
        "name": shop.name,
        "packFee": shop.pack_fee,
        "deliveryFee": shop.delivery_fee,
        # As GET /user/shop/status: 1 taking orders, 0 not; then the details.
        "shopStatus": state.code,
        "status": state.status.value,
        "takingOrders": state.takes_orders,
    }


@router.get("/dish/list")
async def list_dishes(
    parts: Parts,
    response: Response,
    shop_id: Annotated[int, Query(alias="shopId", ge=1, le=2**31 - 1), DIGITS],
) -> dict[str, Any]:
    """The dishes a shop sells, also while it is closed or paused: then `msg` says so
    (as a refused submit would), and the `Shop-Status` header is its status."""
    found = await menu.shop_menu(parts.database, shop_id)
    state = shop_status.state_of(found.shop)
    response.headers["Shop-Status"] = state.status.value
    return {
        "code": 1,
        "msg": refusal(state.status),
        "data": [parts.presenter.dish(d) for d in found.dishes],
    }


@router.post("/shoppingCart/add")
async def add_to_cart(body: CartAdd, me: Customer, parts: Parts) -> dict[str, Any]:
    """Put one more of a dish in your cart (a cart holds dishes of one shop)."""
    line = await carts.add_dish(parts.database, me.user_id, body.dish_id)
    return ok(parts.presenter.cart_line(line))


@router.get("/shoppingCart/list")
async def list_cart(me: Customer, parts: Parts) -> dict[str, Any]:
    """What is in your cart."""
    lines = await carts.list_cart(parts.database, me.user_id)
    return ok([parts.presenter.cart_line(x) for x in lines])


@router.delete("/shoppingCart/clean")
async def clean_cart(me: Customer, parts: Parts) -> dict[str, Any]:
    """Empty your cart."""
    await carts.clean_cart(parts.database, me.user_id)
    return ok()
