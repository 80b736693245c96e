"""An order's story as its shop's history view tells it: every alert it raised,
and who handled each one, how and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from orderbell.domain.errors import NotFound
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Merchant, Order


async def order_alerts(db: Database, shop_id: int, order_id: int) -> list[dict[str, Any]]:
    """The alert frames of one of the shop's orders, oldest first, each with
    ``handledBy`` (``{"id", "name"}`` of the merchant, or null).

    Raises:
        NotFound: no such order in this shop.
    """
    async with db.sessions() as session:
        order = await session.get(Order, order_id)
        # Someone else's order is "not found", so ids cannot be probed.
        if order is None or order.shop_id != shop_id:
            raise NotFound("Order not found.")
        rows = (
            await session.execute(
                select(AlertRow, Merchant.name)
                .outerjoin(Merchant, Merchant.id == AlertRow.handled_by)
                .where(AlertRow.shop_id == shop_id, AlertRow.order_id == order_id)
                .order_by(AlertRow.seq)
            )
        ).all()
    frames = []
    for row, name in rows:
        frame = alert_log.to_alert(row).frame()
        frame["handledBy"] = (
            {"id": row.handled_by, "name": name} if row.handled_by is not None else None
        )
        frames.append(frame)
    return frames
