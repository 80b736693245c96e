"""A shop's alert log as its staff see it (prefix ``/admin/alert``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from orderbell.services import alert_handling, order_history, replay
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import DIGITS, AlertSeq, ReminderReply

router = APIRouter(prefix="/admin/alert", tags=["shop alerts"])


@router.get("/unhandled")
async def unhandled(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Every alert of your shop that nobody has handled yet, oldest first (as alert frames).

    All of them in one answer, however many: there is no page to miss."""
    alerts = await replay.open_alerts(parts.database, me.shop)
    return ok([a.frame() for a in alerts])


@router.put("/reply")
async def reply(body: ReminderReply, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Answer an order's open reminders; the customer sees the reply in the order."""
    text = await alert_handling.reply_to_reminder(
        parts.outbox, me.shop, body.order_id, body.reply, merchant_id=me.user_id, text=body.text
    )
    return ok({"orderId": body.order_id, "reply": text})


@router.put("/dismiss")
async def dismiss(body: AlertSeq, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Put away one open alert by hand (for alerts of another order system, which no
    order move here settles); every console of the shop gets a `handled` frame."""
    await alert_handling.dismiss_alert(parts.outbox, me.shop, body.seq, merchant_id=me.user_id)
    return ok({"seq": body.seq})


@router.get("/order/{id}")
async def order_alerts(
    id: Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS], me: Merchant, parts: Parts
) -> dict[str, Any]:
    """Every alert of one of your orders, oldest first (as alert frames), each with
    `handledBy`: the merchant who handled it (`{"id", "name"}`), or null."""
    return ok(await order_history.order_alerts(parts.database, me.shop, id))
