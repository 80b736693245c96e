"""Alerts: what a shop's consoles are told, and the text of it.

An alert is created in the same transaction as the order change that causes
it (see ``orderbell.storage.alert_log``); this module only knows what one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any


class AlertType(IntEnum):
    """The ``type`` field of an alert frame, as in the original protocol."""

    NEW_ORDER = 1
    REMINDER = 2


def alert_content(order_number: str) -> str:
    """The ``content`` text the original shows: "订单号：<number>" (full-width colon)."""
    return f"订单号：{order_number}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One entry of a shop's alert log."""

    shop_id: int
    seq: int
    type: AlertType
    order_id: int | None
    order_number: str
    content: str
    created_at: datetime
    handled_at: datetime | None = None
    handled_action: str | None = None
    handled_by: int | None = None
    reply: str | None = None
    source: str = "order"

    def frame(self) -> dict[str, Any]:
        """The alert frame: the original's ``type``/``orderId``/``content`` plus extras.

        Fields are only ever added here, never renamed or removed, so that a
        page written for the original keeps working.
        """
        frame: dict[str, Any] = {
            "type": int(self.type),
            "orderId": self.order_id,
            "content": self.content,
            "seq": self.seq,
            "shopId": self.shop_id,
            "orderNumber": self.order_number,
            "createdAt": iso(self.created_at),
        }
        if self.source != "order":
            frame["source"] = self.source
        if self.handled_at is not None:
            frame["handled"] = {
                "action": self.handled_action,
                "at": iso(self.handled_at),
                "by": self.handled_by,
                "reply": self.reply,
            }
        return frame


def iso(value: datetime) -> str:
    """A stored (naive UTC) time as ISO 8601 with milliseconds and ``Z``."""
    return value.isoformat(timespec="milliseconds") + "Z"
