"""Typed events a console client yields: alerts, handled notices, resets, connection
changes, and the shop's devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

NEW_ORDER = 1
REMINDER = 2


@dataclass(frozen=True, slots=True)
class Alert:
    """A new-order (type 1) or reminder (type 2) alert of the shop."""

    seq: int
    type: int
    order_id: int | None
    content: str
    shop_id: int
    order_number: str | None
    created_at: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_new_order(self) -> bool:
        """True for a new paid order (来单提醒)."""
        return self.type == NEW_ORDER

    @property
    def is_reminder(self) -> bool:
        """True for a customer reminder (催单)."""
        return self.type == REMINDER

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Alert:
        """The alert of an alert frame."""
        return cls(
            seq=int(frame["seq"]),
            type=int(frame["type"]),
            order_id=frame.get("orderId"),
            content=str(frame.get("content", "")),
            shop_id=int(frame.get("shopId", 0)),
            order_number=frame.get("orderNumber"),
            created_at=frame.get("createdAt"),
            raw=frame,
        )


@dataclass(frozen=True, slots=True)
class Handled:
    """An alert was dealt with on some console (stop ringing for it)."""

    alert_seq: int
    alert_type: int
    order_id: int | None
    action: str
    by: dict[str, Any] | None
    reply: str | None


@dataclass(frozen=True, slots=True)
class Reset:
    """Alerts were missed beyond retention: reload the order list."""

    since: int
    latest_seq: int
    oldest_seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Status:
    """The connection changed: ``connected`` (the server has registered the console,
    so every alert raised from now on reaches it) or ``reconnecting`` (with the
    delay and why)."""

    state: Literal["connected", "reconnecting"]
    detail: str = ""
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Presence:
    """The shop's devices changed: every console now connected (to any server
    process), each a dict as ``GET /admin/shop/devices`` lists it."""

    shop_id: int
    online: int
    devices: tuple[dict[str, Any], ...]

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Presence:
        """The event of a ``presence`` frame."""
        devices = tuple(d for d in frame.get("devices") or () if isinstance(d, dict))
        return cls(int(frame.get("shopId", 0)), int(frame.get("online", len(devices))), devices)


Event = Alert | Handled | Reset | Status | Presence
