"""Events: what orderbell tells systems outside it (webhooks), and their shape.

An event is recorded in the transaction of the change that causes it
(``Work.emit``) and carried out after commit by the dispatcher. Its body is
the one the Standard Webhooks specification suggests: ``type``,
``timestamp`` and ``data``, plus the event's ``id``, which is also the
``webhook-id`` header of every attempt.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson


class EventType(StrEnum):
    """The events an endpoint can subscribe to."""

    ORDER_PAID = "order.paid"
    ORDER_ACCEPTED = "order.accepted"
    ORDER_UNACCEPTED = "order.unaccepted"
    ORDER_AUTO_CANCELLED = "order.auto_cancelled"
    REMINDER_CREATED = "reminder.created"
    SHOP_STATUS_CHANGED = "shop.status_changed"
    WEBHOOK_TEST = "webhook.test"


def new_event_id() -> str:
    """``msg_`` and 26 characters: a millisecond time then randomness, so ids sort by time."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return "msg_" + "".join(reversed(chars))


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, for the endpoints subscribed to its type.

    ``shop_id`` is the shop it happened in: the shop's own endpoints and the
    deployment's endpoints get it.
    """

    type: EventType
    shop_id: int | None
    data: dict[str, Any]
    id: str = field(default_factory=new_event_id)
    time: datetime = field(default_factory=_now)

    def body(self) -> bytes:
        """The JSON body sent to endpoints (the same bytes on every attempt)."""
        return orjson.dumps(
            {
                "id": self.id,
                "type": str(self.type),
                "timestamp": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "data": self.data,
            }
        )
