"""Whether a shop takes orders (营业中 / 打烊), as the original's ``/admin/shop`` and
``/user/shop/status``, plus the details and the history of its changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from orderbell.domain.shop_status import from_original_code
from orderbell.services import shop_status
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import DIGITS

router = APIRouter(tags=["shop status"])


@router.put("/admin/shop/{status}")
async def set_status(
    status: Annotated[int, Path(ge=0, le=1, description="1 open, 0 closed"), DIGITS],
    me: Merchant,
    parts: Parts,
) -> dict[str, Any]:
    """Open (1) or close (0) your shop; opening a paused shop opens it.
    Every console of the shop gets a `shopStatus` frame."""
    await shop_status.set_by_merchant(
        parts.outbox, me.shop, from_original_code(status), merchant_id=me.user_id
    )
    return ok()


@router.get("/admin/shop/status")
async def admin_status(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Your shop's status as the original gives it: 1 taking orders, 0 not (closed or paused)."""
    return ok((await shop_status.current(parts.database, me.shop)).code)


@router.get("/admin/shop/status/detail")
async def admin_status_detail(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Your shop's status in full: `open`, `closed` or `paused`, the reason, and since when."""
    return ok((await shop_status.current(parts.database, me.shop)).public())


@router.get("/admin/shop/status/history")
async def admin_status_history(
    me: Merchant,
    parts: Parts,
    limit: Annotated[int, Query(ge=1, le=500), DIGITS] = 100,
) -> dict[str, Any]:
    """Your shop's changes of status, newest first: from, to, reason, who and when."""
    changes = await shop_status.history(parts.database, me.shop, limit=limit)
    return ok([c.public() for c in changes])


@router.get("/user/shop/status")
async def customer_status(
    parts: Parts, shop_id: Annotated[int, Query(alias="shopId", ge=1, le=2**31 - 1), DIGITS]
) -> dict[str, Any]:
    """Whether a shop takes orders now: 1 yes, 0 no (closed or paused)."""
    return ok((await shop_status.current(parts.database, shop_id)).code)
