"""A shop's orders as its staff see and move them (prefix ``/admin/order``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from orderbell.domain.orders import Action
from orderbell.services import order_views, orders
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import DIGITS, Line, LocalTime, OrderCancel, OrderId, OrderRejection

router = APIRouter(prefix="/admin/order", tags=["shop orders"])

OrderIdPath = Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS]


@router.get("/conditionSearch")
async def condition_search(
    me: Merchant,
    parts: Parts,
    page: Annotated[int, Query(ge=1, le=100_000), DIGITS] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100), DIGITS] = 10,
    number: Annotated[Line | None, Query(max_length=50)] = None,
    phone: Annotated[Line | None, Query(max_length=11)] = None,
    status: Annotated[int | None, Query(ge=1, le=6), DIGITS] = None,
    begin_time: Annotated[LocalTime | None, Query(alias="beginTime")] = None,
    end_time: Annotated[LocalTime | None, Query(alias="endTime")] = None,
) -> dict[str, Any]:
    """Search your shop's orders (times as "yyyy-MM-dd HH:mm:ss")."""
    begin: datetime | None = parts.presenter.to_utc(begin_time)
    end: datetime | None = parts.presenter.to_utc(end_time)
    result = await order_views.search(
        parts.database,
        me.shop,
        page=page,
        page_size=page_size,
        number=number,
        phone=phone,
        status=status,
        begin=begin,
        end=end,
    )
    return ok(parts.presenter.page(result))


@router.get("/statistics")
async def statistics(me: Merchant, parts: Parts) -> dict[str, Any]:
    """How many orders wait to be confirmed, are confirmed, are out for delivery."""
    return ok(await order_views.statistics(parts.database, me.shop))


@router.get("/details/{id}")
async def details(id: OrderIdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """One order of your shop with its dishes."""
    return ok(parts.presenter.order(await order_views.order_of_shop(parts.database, me.shop, id)))


@router.put("/confirm")
async def confirm(body: OrderId, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Accept an order that waits for the shop."""
    order = await orders.act_as_shop(
        parts.outbox, me.shop, body.id, Action.CONFIRM, merchant_id=me.user_id
    )
    parts.metrics.order_accepted(order.checkout_time, order.accepted_at)
    return ok()


@router.put("/rejection")
async def rejection(body: OrderRejection, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Reject an order that waits for the shop (refunded if paid)."""
    await orders.act_as_shop(
        parts.outbox,
        me.shop,
        body.id,
        Action.REJECT,
        merchant_id=me.user_id,
        reason=body.rejection_reason,
    )
    return ok()


@router.put("/cancel")
async def cancel(body: OrderCancel, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Cancel an order (refunded if paid)."""
    await orders.act_as_shop(
        parts.outbox,
        me.shop,
        body.id,
        Action.MERCHANT_CANCEL,
        merchant_id=me.user_id,
        reason=body.cancel_reason,
    )
    return ok()


@router.put("/delivery/{id}")
async def delivery(id: OrderIdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Send an accepted order out for delivery."""
    await orders.act_as_shop(parts.outbox, me.shop, id, Action.DELIVER, merchant_id=me.user_id)
    return ok()


@router.put("/complete/{id}")
async def complete(id: OrderIdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Mark a delivered order completed."""
    await orders.act_as_shop(parts.outbox, me.shop, id, Action.COMPLETE, merchant_id=me.user_id)
    return ok()
