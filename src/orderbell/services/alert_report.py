"""The response-time report of a shop (``GET /admin/report/alerts``): its paid
orders in a range of days, read in one query, summed up by ``domain.response_times``.

The orders are found by the index on (shop, payment time); each order's
new-order alert and reminders by the alert log's index on (order, type).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from orderbell.domain.alerts import AlertType
from orderbell.domain.orders import OrderStatus
from orderbell.domain.response_times import (
    AUTO_CANCEL_REASON,
    EXPIRED,
    PaidOrder,
    summarize,
    utc_range,
)
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Order


def _alerts_of_order(type: AlertType) -> Any:
    return and_(AlertRow.order_id == Order.id, AlertRow.type == int(type))


async def alert_report(
    database: Database, shop_id: int, begin: date, end: date, zone: ZoneInfo
) -> dict[str, Any]:
    """The shop's numbers for the orders paid from ``begin`` to ``end`` (days in
    ``zone``, both included)."""
    start, stop = utc_range(begin, end, zone)
    rung = (
        select(func.min(AlertRow.first_rung_at))
        .where(_alerts_of_order(AlertType.NEW_ORDER))
        .scalar_subquery()
    )
    expired = (
        select(func.count())
        .where(_alerts_of_order(AlertType.NEW_ORDER), AlertRow.handled_action == EXPIRED)
        .scalar_subquery()
    )
    reminders = select(func.count()).where(_alerts_of_order(AlertType.REMINDER)).scalar_subquery()
    query = select(
        Order.checkout_time,
        Order.accepted_at,
        and_(
            Order.status == int(OrderStatus.CANCELLED),
            or_(Order.cancel_reason.startswith(AUTO_CANCEL_REASON), expired > 0),
        ).label("auto_cancelled"),
        rung.label("rung_at"),
        reminders.label("reminders"),
    ).where(Order.shop_id == shop_id, Order.checkout_time >= start, Order.checkout_time < stop)
    async with database.sessions() as session:
        rows = (await session.execute(query)).all()
    orders = [
        PaidOrder(
            paid_at=row.checkout_time,
            rung_at=row.rung_at,
            accepted_at=row.accepted_at,
            auto_cancelled=bool(row.auto_cancelled),
            reminders=int(row.reminders or 0),
        )
        for row in rows
    ]
    return {"begin": begin.isoformat(), "end": end.isoformat(), "timeZone": zone.key} | summarize(
        orders, zone
    )
