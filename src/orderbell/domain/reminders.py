"""When a customer may ask a shop to hurry (催单).

Two kinds of rule: whether the order is one a reminder makes sense for
(the customer's own, paid, not yet finished: ``check_reminder``), and how
often (``check_reminder_timing``): not before a delay after payment, at
most one per interval, at most so many per order. Both are pure; the
service feeds them the order and the times of its earlier reminders, read
in the same transaction that would store the new one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from orderbell.domain.errors import BusinessError, NotFound, TooManyRequests
from orderbell.domain.orders import OrderStatus, PayStatus, describe

#: States in which a reminder makes sense: paid, and not yet finished.
REMINDABLE = frozenset(
    {OrderStatus.TO_BE_CONFIRMED, OrderStatus.CONFIRMED, OrderStatus.DELIVERY_IN_PROGRESS}
)


def check_reminder(
    *, order_customer_id: int, customer_id: int, status: OrderStatus, pay_status: PayStatus
) -> None:
    """Refuse a reminder that the rules do not allow; return quietly otherwise.

    Raises:
        NotFound: the order is not the customer's own (told as "not found", so
            that order ids of others cannot be probed).
        BusinessError: the order is not in a state in which a reminder helps.
    """
    if order_customer_id != customer_id:
        raise NotFound("Order not found.")
    if status not in REMINDABLE or pay_status is not PayStatus.PAID:
        raise BusinessError(f"Cannot remind the shop: the order is {describe(status)}.")


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """How often a customer may remind a shop about one order.

    Attributes:
        delay: how long after payment the first reminder is allowed.
        interval: the least time between two reminders of one order.
        max_per_order: how many reminders one order may raise in all.
    """

    delay: timedelta = timedelta(0)
    interval: timedelta = timedelta(minutes=5)
    max_per_order: int = 3

    def __post_init__(self) -> None:
        if self.delay < timedelta(0) or self.interval < timedelta(0) or self.max_per_order < 1:
            raise ValueError("delay and interval must be >= 0 and max_per_order >= 1")


@dataclass(frozen=True, slots=True)
class ReminderAllowance:
    """What is left after a reminder was allowed: how many more, and from when."""

    left: int
    next_allowed_at: datetime | None

    def as_data(self) -> dict[str, object]:
        """The API's view: ``{"remindersLeft", "nextAllowedAt"}`` (ISO 8601, UTC)."""
        at = self.next_allowed_at
        return {"remindersLeft": self.left, "nextAllowedAt": _iso(at) if at else None}


def _iso(moment: datetime) -> str:
    # Times in the domain are naive UTC, as the tables store them. Rounded
    # up to the millisecond: a client that waits until this time is never
    # a fraction too early.
    if moment.microsecond % 1000:
        moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
    text = moment.replace(tzinfo=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _wait_words(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _too_soon(message: str, now: datetime, allowed_at: datetime, left: int) -> TooManyRequests:
    wait = max(1, math.ceil((allowed_at - now).total_seconds()))
    return TooManyRequests(
        f"{message}; you can remind the shop again in {_wait_words(wait)}.",
        retry_after=wait,
        data={"retryAfter": wait, "nextAllowedAt": _iso(allowed_at), "remindersLeft": left},
    )


def check_reminder_timing(
    policy: ReminderPolicy,
    *,
    now: datetime,
    paid_at: datetime | None,
    earlier: Sequence[datetime],
) -> ReminderAllowance:
    """Allow a reminder at ``now`` or refuse it, saying when the next one is allowed.

    Args:
        policy: the limits.
        now: the time of the request (naive UTC).
        paid_at: when the order was paid (naive UTC), if known.
        earlier: when the order's earlier reminders were raised (any order).

    Returns:
        How many reminders are left after this one, and when the next is allowed.

    Raises:
        TooManyRequests: too early after payment, too soon after the previous
            reminder (``retry_after`` set), or the order has had all its
            reminders (``retry_after`` None: waiting will not help).
    """
    used = len(earlier)
    if used >= policy.max_per_order:
        raise TooManyRequests(
            f"You have reminded the shop about this order {_times(used)}, "
            f"the most allowed; the shop has been told.",
            data={"retryAfter": None, "nextAllowedAt": None, "remindersLeft": 0},
        )
    left = policy.max_per_order - used
    if paid_at is not None and now < paid_at + policy.delay:
        raise _too_soon("The order was paid only just now", now, paid_at + policy.delay, left)
    if earlier:
        last = max(earlier)
        allowed_at = last + policy.interval
        if now < allowed_at:
            elapsed = int((now - last).total_seconds())
            ago = f"{_wait_words(elapsed)} ago" if elapsed >= 5 else "just now"
            raise _too_soon(f"You reminded the shop {ago}", now, allowed_at, left)
    left -= 1
    return ReminderAllowance(left, now + policy.interval if left else None)


class Reply(StrEnum):
    """The answers a shop can give to a reminder, as takeout platforms offer them."""

    OUT_FOR_DELIVERY = "out_for_delivery"
    COOKING = "cooking"
    WEATHER_DELAY = "weather_delay"
    SHORT_HANDED = "short_handed"
    CUSTOM = "custom"


REPLY_TEXT = {
    Reply.OUT_FOR_DELIVERY: "已出餐，骑手正在配送中",
    Reply.COOKING: "正在加急制作中",
    Reply.WEATHER_DELAY: "天气原因，配送稍有延迟，请耐心等待",
    Reply.SHORT_HANDED: "店内繁忙，人手紧张，请耐心等待",
}
MAX_CUSTOM_REPLY = 30


def reply_text(choice: Reply, custom: str | None = None) -> str:
    """The text the customer sees for a reply.

    Raises:
        BusinessError: a custom reply without text or longer than MAX_CUSTOM_REPLY.
    """
    if choice is not Reply.CUSTOM:
        return REPLY_TEXT[choice]
    text = (custom or "").strip()
    if not text:
        raise BusinessError("A custom reply needs a text.")
    if len(text) > MAX_CUSTOM_REPLY:
        raise BusinessError(f"A custom reply may have at most {MAX_CUSTOM_REPLY} characters.")
    return text
