"""A customer's orders (prefix ``/user/order``), as in the original API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from orderbell.services import alert_handling, carts, order_views, orders
from orderbell.web.deps import Customer, Parts
from orderbell.web.envelope import ok
from orderbell.web.guards import reminder_policy
from orderbell.web.schemas import DIGITS, OrderPayment, OrderSubmit

router = APIRouter(prefix="/user/order", tags=["customer orders"])

OrderIdPath = Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS]


@router.post("/submit")
async def submit(body: OrderSubmit, me: Customer, parts: Parts) -> dict[str, Any]:
    """Order what is in your cart; the amount is computed by the server."""
    form = orders.Submission(
        address_book_id=body.address_book_id,
        remark=body.remark,
        pay_method=body.pay_method,
        estimated_delivery_time=parts.presenter.to_utc(body.estimated_delivery_time),
        delivery_status=body.delivery_status,
        tableware_number=body.tableware_number,
        tableware_status=body.tableware_status,
    )
    order = await orders.submit(parts.outbox, me.user_id, form, auto_pay=parts.settings.auto_pay)
    return ok(
        {
            "id": order.id,
            "orderNumber": order.number,
            "orderAmount": parts.presenter.money(order.amount),
            "orderTime": parts.presenter.time(order.order_time),
        }
    )


@router.put("/payment")
async def payment(body: OrderPayment, me: Customer, parts: Parts) -> dict[str, Any]:
    """Pay an order (simulated); paying again changes nothing."""
    order = await orders.pay(parts.outbox, me.user_id, body.order_number)
    return ok(
        {
            "id": order.id,
            "orderNumber": order.number,
            "status": order.status,
            "payStatus": order.pay_status,
            "checkoutTime": parts.presenter.time(order.checkout_time),
        }
    )


@router.get("/historyOrders")
async def history(
    me: Customer,
    parts: Parts,
    page: Annotated[int, Query(ge=1, le=100_000), DIGITS] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100), DIGITS] = 10,
    status: Annotated[int | None, Query(ge=1, le=6), DIGITS] = None,
) -> dict[str, Any]:
    """Your orders, newest first."""
    result = await order_views.history(
        parts.database, me.user_id, page=page, page_size=page_size, status=status
    )
    return ok(parts.presenter.page(result))


@router.get("/orderDetail/{id}")
async def detail(id: OrderIdPath, me: Customer, parts: Parts) -> dict[str, Any]:
    """One of your orders with its dishes."""
    return ok(
        parts.presenter.order(await order_views.order_of_customer(parts.database, me.user_id, id))
    )


@router.put("/cancel/{id}")
async def cancel(id: OrderIdPath, me: Customer, parts: Parts) -> dict[str, Any]:
    """Cancel your order while the shop has not accepted it."""
    await orders.cancel_by_customer(parts.outbox, me.user_id, id)
    return ok()


@router.post("/repetition/{id}")
async def repetition(id: OrderIdPath, me: Customer, parts: Parts) -> dict[str, Any]:
    """Put the dishes of an earlier order back in your cart."""
    await carts.repeat(parts.database, me.user_id, id)
    return ok()


@router.get("/reminder/{id}")
async def reminder(id: OrderIdPath, me: Customer, parts: Parts) -> dict[str, Any]:
    """Ask the shop to hurry (催单) with a paid order that is not yet completed.

    Reminders are limited per order: not before a delay after payment, one
    per interval, so many in all (5 minutes and 3 by default). A refusal is
    429 with `Retry-After` and `data.nextAllowedAt` when waiting helps; a
    success tells `remindersLeft` and `nextAllowedAt`."""
    allowance = await alert_handling.remind(
        parts.outbox, me.user_id, id, reminder_policy(parts.settings)
    )
    return ok(allowance.as_data())
