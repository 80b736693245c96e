"""How fast a shop answers: its paid orders summed up, for the whole range and per hour.

Pure arithmetic on one row per paid order (``PaidOrder``): when it was paid,
first rung on a console, accepted; whether it was cancelled because nobody
accepted it; how many reminders it raised. ``summarize`` turns them into
the report's numbers; the service reads the rows, the route shows them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: The reason an order cancelled by the escalation ladder carries.
AUTO_CANCEL_REASON = "商家未及时接单"
#: The ``handled`` action of the new-order alert of such an order.
EXPIRED = "expired"
#: The longest range one report covers, in days (both ends included).
MAX_DAYS = 31


@dataclass(frozen=True, slots=True)
class PaidOrder:
    """One paid order of the range: when it was paid (seconds since the epoch,
    UTC), and how many seconds later it first rang on a console and was
    accepted (None: never)."""

    paid_at: float
    ring: float | None
    wait: float | None
    auto_cancelled: bool
    reminders: int


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` (0..1) percentile of sorted ``values``, interpolated
    between the two nearest ranks (as PostgreSQL's ``percentile_cont``); None
    for no values."""
    if not values:
        return None
    rank = fraction * (len(values) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def _rounded(value: float | None, places: int = 1) -> float | None:
    return None if value is None else round(value, places)


class _Tally:
    __slots__ = ("accepted", "auto_cancelled", "paid", "reminders", "rings", "waits")

    def __init__(self) -> None:
        self.paid = 0
        self.accepted = 0
        self.auto_cancelled = 0
        self.reminders = 0
        self.rings: list[float] = []
        self.waits: list[float] = []

    def add(self, order: PaidOrder) -> None:
        self.paid += 1
        self.reminders += order.reminders
        if order.auto_cancelled:
            self.auto_cancelled += 1
        # Clocks of two processes may differ a little: never a negative wait.
        if order.ring is not None:
            self.rings.append(max(0.0, order.ring))
        if order.wait is not None:
            self.accepted += 1
            self.waits.append(max(0.0, order.wait))

    def numbers(self) -> dict[str, Any]:
        rings, waits = sorted(self.rings), sorted(self.waits)
        return {
            "ordersPaid": self.paid,
            "ordersAccepted": self.accepted,
            "ordersAutoCancelled": self.auto_cancelled,
            "ordersRung": len(rings),
            "ringMedianSeconds": _rounded(percentile(rings, 0.5)),
            "ringP90Seconds": _rounded(percentile(rings, 0.9)),
            "acceptMedianSeconds": _rounded(percentile(waits, 0.5)),
            "acceptP90Seconds": _rounded(percentile(waits, 0.9)),
            "reminders": self.reminders,
            "remindersPerOrder": round(self.reminders / self.paid, 2) if self.paid else None,
        }


def summarize(orders: Iterable[PaidOrder], zone: ZoneInfo) -> dict[str, Any]:
    """The numbers of all ``orders``, and ``hours``: the same for each hour of the
    day (0..23, by payment time in ``zone``), summed over the days of the range."""
    total = _Tally()
    hours = [_Tally() for _ in range(24)]
    # Every zone's offset is a whole number of quarter hours, so all payments
    # of one quarter hour fall in the same local hour: one conversion each.
    local_hour: dict[int, int] = {}
    for order in orders:
        total.add(order)
        quarter = int(order.paid_at // 900)
        hour = local_hour.get(quarter)
        if hour is None:
            hour = local_hour[quarter] = datetime.fromtimestamp(quarter * 900, zone).hour
        hours[hour].add(order)
    return total.numbers() | {
        "hours": [{"hour": h, **tally.numbers()} for h, tally in enumerate(hours)]
    }


def utc_range(begin: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From the start of ``begin`` to the start of the day after ``end`` in
    ``zone``, as naive UTC (both days included; a day of a clock change is
    23 or 25 hours long)."""
    utc = ZoneInfo("UTC")

    def start_of(day: date) -> datetime:
        local = datetime(day.year, day.month, day.day, tzinfo=zone)
        return local.astimezone(utc).replace(tzinfo=None)

    return start_of(begin), start_of(end + timedelta(days=1))
