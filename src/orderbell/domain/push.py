"""What a Web Push message says: an alert nobody has looked at, or that an order was handled.

Pure: the push service encrypts the JSON these functions return (RFC 8291),
and the console's service worker (``sw.js``) reads it. A message names the
order (``orderId``, ``orderNumber``), the alert (``shopId``, ``seq``,
``type``) and carries the text of the notification, so that the service
worker can show it without asking the server. ``tag`` is the same for every
message of one order, so a reminder replaces the order's notification (and
alerts again: ``renotify``) and a ``handled`` message finds it to close it.
"""

from __future__ import annotations

from typing import Any

from orderbell.domain.alerts import AlertType

#: The ``kind`` of each message.
ALERT, HANDLED = "alert", "handled"
#: The push messages' ``event_type`` in the outgoing table.
ALERT_EVENT, HANDLED_EVENT = "push.alert", "push.handled"

_TITLES = {AlertType.NEW_ORDER: "新订单", AlertType.REMINDER: "催单"}


def tag(shop_id: int, order_id: int | None, seq: int) -> str:
    """One notification per order (per alert when it has no order of this system)."""
    return f"orderbell-{shop_id}-order-{order_id}" if order_id else f"orderbell-{shop_id}-{seq}"


def short_number(order_number: str) -> str:
    """The last four characters of an order number: what people call an order by."""
    return order_number[-4:]


def alert_message(
    *,
    shop_id: int,
    seq: int,
    type: int,
    order_id: int | None,
    order_number: str,
    content: str,
) -> dict[str, Any]:
    """The push message of an alert (a new order or a reminder)."""
    kind = AlertType(type)
    return {
        "kind": ALERT,
        "shopId": shop_id,
        "seq": seq,
        "type": int(kind),
        "orderId": order_id,
        "orderNumber": order_number,
        "title": f"{_TITLES[kind]} #{short_number(order_number)}",
        "body": content,
        "tag": tag(shop_id, order_id, seq),
        # A reminder of an order whose notification is up must alert again.
        "renotify": kind is AlertType.REMINDER,
    }


def handled_message(*, shop_id: int, order_id: int, order_number: str) -> dict[str, Any]:
    """The push message that closes an order's notification on every device."""
    return {
        "kind": HANDLED,
        "shopId": shop_id,
        "orderId": order_id,
        "orderNumber": order_number,
        "tag": tag(shop_id, order_id, 0),
    }
