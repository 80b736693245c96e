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
    """One paid order of the range, with times as naive UTC."""

    paid_at: datetime
    rung_at: datetime | None
    accepted_at: datetime | None
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


def _seconds(start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    # Clocks of two processes may differ a little: never a negative wait.
    return max(0.0, (end - start).total_seconds())


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
        ring = _seconds(order.paid_at, order.rung_at)
        if ring is not None:
            self.rings.append(ring)
        wait = _seconds(order.paid_at, order.accepted_at)
        if wait is not None:
            self.accepted += 1
            self.waits.append(wait)

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
    utc = ZoneInfo("UTC")
    for order in orders:
        total.add(order)
        hours[order.paid_at.replace(tzinfo=utc).astimezone(zone).hour].add(order)
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
