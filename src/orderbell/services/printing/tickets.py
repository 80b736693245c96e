"""An order's kitchen ticket, read from the database and laid out."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from orderbell.domain import tickets
from orderbell.domain.tickets import Ticket, TicketOrder
from orderbell.services.order_views import OrderView, order_of_shop
from orderbell.storage.database import Database
from orderbell.storage.tables import Shop


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC).astimezone(zone)


def ticket_order(view: OrderView, shop_name: str, zone: ZoneInfo) -> TicketOrder:
    """What the ticket of ``view``'s order shows, with times in ``zone``."""
    order = view.order
    return TicketOrder(
        shop_name=shop_name,
        number=order.number,
        paid_at=_local(order.checkout_time or order.order_time, zone),
        dishes=tickets.dishes((d.name, d.number, d.amount, d.dish_flavor) for d in view.details),
        remark=order.remark,
        address=order.address,
        consignee=order.consignee,
        phone=order.phone,
        amount=order.amount,
        tableware=order.tableware_number,
        estimated_at=_local(order.estimated_delivery_time, zone),
    )


async def ticket_of(
    db: Database, shop_id: int, order_id: int, *, width: int, zone: ZoneInfo, reprint: bool = False
) -> Ticket:
    """The kitchen ticket of an order of ``shop_id``, laid out for ``width`` mm paper.

    Raises:
        NotFound: no such order in this shop.
    """
    view = await order_of_shop(db, shop_id, order_id)
    async with db.sessions() as session:
        shop = await session.get(Shop, shop_id)
    return tickets.layout(
        ticket_order(view, shop.name if shop else "", zone), width=width, reprint=reprint
    )
