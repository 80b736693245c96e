"""The escalation ladder of an order nobody accepts: which step is due, and when the next is.

A paid order waits for the shop (status 2). If nobody accepts it:

- after ``warn_seconds`` the shop's consoles are warned (level 1): they ring
  louder and more often for it;
- after ``notify_seconds`` people are notified (level 2): an
  ``order.unaccepted`` event goes out for SMS or voice-call integrations,
  again every ``notify_repeat_seconds`` until the order is handled;
- after the auto-cancel time (0: never) the order is cancelled and refunded.

Everything here is pure: given the payment time, the time now, what the
order has been through (level and notifications sent) and the shop's
ladder, ``decide`` says the one step to take now and when to look again.
Steps that were missed (every server was down) are not replayed one by one:
only the latest that applies is taken, so a shop whose order waited through
an outage gets one notification, or the cancellation alone, not a burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

#: The reason an order cancelled by the ladder carries (the customer sees it).
AUTO_CANCEL_REASON = "商家未及时接单 / the shop did not accept in time"
#: What a shop's move on an order the ladder cancelled is told.
AUTO_CANCELLED_MESSAGE = (
    "订单已自动取消 / The order was cancelled automatically because the shop "
    "did not accept it in time."
)


class Level(IntEnum):
    """The highest step an order has been through."""

    NONE = 0
    WARNED = 1
    NOTIFIED = 2


class Step(StrEnum):
    """A step of the ladder."""

    WARN = "warn"
    NOTIFY = "notify"
    CANCEL = "cancel"


#: The bounds of a shop's own settings, as the API names them (values outside are refused).
LIMITS = {
    "warnSeconds": (1, 3600),
    "notifySeconds": (1, 86_400),
    "notifyRepeatSeconds": (30, 86_400),
    "autoCancelMinutes": (0, 1440),
}


@dataclass(frozen=True, slots=True)
class Ladder:
    """The times of a shop's ladder, in seconds after payment (``auto_cancel_seconds``
    0: no auto-cancel). The deployment's defaults may be fractions (tests use short
    ladders); a shop's own values are whole seconds and minutes."""

    warn_seconds: float
    notify_seconds: float
    notify_repeat_seconds: float
    auto_cancel_seconds: float

    @property
    def auto_cancel(self) -> timedelta | None:
        """How long after payment an order is cancelled; None when never."""
        if self.auto_cancel_seconds <= 0:
            return None
        return timedelta(seconds=self.auto_cancel_seconds)

    def auto_cancel_at(self, paid_at: datetime) -> datetime | None:
        """When an order paid at ``paid_at`` will be cancelled, if nobody accepts it."""
        after = self.auto_cancel
        return None if after is None else paid_at + after

    def public(self) -> dict[str, float]:
        """The ladder as the API shows it (camelCase, the auto-cancel in minutes)."""
        return {
            "warnSeconds": _number(self.warn_seconds),
            "notifySeconds": _number(self.notify_seconds),
            "notifyRepeatSeconds": _number(self.notify_repeat_seconds),
            "autoCancelMinutes": _number(self.auto_cancel_seconds / 60),
        }

    def merged(self, own: Own) -> Ladder:
        """This ladder (the defaults) with a shop's own values where it has them."""
        return Ladder(
            warn_seconds=_pick(own.warn_seconds, self.warn_seconds),
            notify_seconds=_pick(own.notify_seconds, self.notify_seconds),
            notify_repeat_seconds=_pick(own.notify_repeat_seconds, self.notify_repeat_seconds),
            auto_cancel_seconds=(
                self.auto_cancel_seconds
                if own.auto_cancel_minutes is None
                else own.auto_cancel_minutes * 60
            ),
        )


def _pick(own: int | None, default: float) -> float:
    return default if own is None else own


def _number(value: float) -> float:
    # Whole numbers as integers in JSON (60, not 60.0).
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True, slots=True)
class Own:
    """A shop's own values (None: the deployment's default), as stored."""

    warn_seconds: int | None = None
    notify_seconds: int | None = None
    notify_repeat_seconds: int | None = None
    auto_cancel_minutes: int | None = None

    def public(self) -> dict[str, int | None]:
        """As the API names them."""
        return {
            "warnSeconds": self.warn_seconds,
            "notifySeconds": self.notify_seconds,
            "notifyRepeatSeconds": self.notify_repeat_seconds,
            "autoCancelMinutes": self.auto_cancel_minutes,
        }


def problems(own: Own, ladder: Ladder) -> list[tuple[str, str]]:
    """What is wrong with a shop's own values and the ladder they make: (field, words
    for the merchant) pairs, empty when all is fine.

    Each own value must lie within ``LIMITS``; the steps of the resulting
    ladder must come in order: the warning no later than the first
    notification, and both before the auto-cancel when there is one.
    """
    found = []
    for name, value in own.public().items():
        low, high = LIMITS[name]
        if value is not None and not low <= value <= high:
            found.append((name, f"must be between {low} and {high}"))
    if found:
        return found
    if ladder.warn_seconds > ladder.notify_seconds:
        found.append(("warnSeconds", "must not be greater than notifySeconds"))
    cancel = ladder.auto_cancel
    if cancel is not None and ladder.notify_seconds >= cancel.total_seconds():
        found.append(
            (
                "notifySeconds",
                "must be less than autoCancelMinutes × 60 "
                "(or set autoCancelMinutes to 0 to turn the auto-cancel off)",
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Decision:
    """What the ladder does to an order now.

    ``step`` is None when nothing is due (the order was looked at early).
    ``level`` and ``notified`` are the order's values after the step;
    ``next_due`` is when to look at it again (None: never, it was cancelled).
    """

    step: Step | None
    level: int
    notified: int
    next_due: datetime | None


def notifications_due(ladder: Ladder, waited: timedelta) -> int:
    """How many notifications an order that has waited ``waited`` should have had by now."""
    seconds = waited.total_seconds()
    if seconds < ladder.notify_seconds:
        return 0
    return 1 + int((seconds - ladder.notify_seconds) // ladder.notify_repeat_seconds)


def decide(
    ladder: Ladder, *, paid_at: datetime, now: datetime, level: int, notified: int
) -> Decision:
    """The step due now for an order paid at ``paid_at`` that is still waiting.

    At most one step is taken per look, the latest that applies: the
    auto-cancel when its time has come (whatever was missed before it), else
    a notification when one is owed (counting the ones missed as sent, so
    there is never more than one at a time), else the warning.
    """
    waited = now - paid_at
    cancel = ladder.auto_cancel
    if cancel is not None and waited >= cancel:
        return Decision(Step.CANCEL, level, notified, None)
    owed = notifications_due(ladder, waited)
    step: Step | None = None
    if owed > notified:
        step, level, notified = Step.NOTIFY, max(level, Level.NOTIFIED), owed
    elif owed == 0 and level < Level.WARNED and waited.total_seconds() >= ladder.warn_seconds:
        step, level = Step.WARN, Level.WARNED
    return Decision(step, int(level), notified, _next_due(ladder, paid_at, level, notified))


def _next_due(ladder: Ladder, paid_at: datetime, level: int, notified: int) -> datetime:
    # The next notification is always ahead (they repeat until the order is
    # handled), so there is always a next look while the order waits.
    times = [
        paid_at
        + timedelta(seconds=ladder.notify_seconds + max(notified, 0) * ladder.notify_repeat_seconds)
    ]
    if level < Level.WARNED:
        times.append(paid_at + timedelta(seconds=ladder.warn_seconds))
    cancel = ladder.auto_cancel
    if cancel is not None:
        times.append(paid_at + cancel)
    return min(times)
