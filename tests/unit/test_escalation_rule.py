"""The escalation ladder's rule: which step is due, and when the next one is."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from orderbell.domain.errors import BusinessError
from orderbell.domain.escalation import (
    Decision,
    Ladder,
    Level,
    Own,
    Step,
    decide,
    notifications_due,
    problems,
)
from orderbell.domain.orders import Action, OrderState, OrderStatus, PayStatus, apply, settles

PAID = datetime(2026, 12, 7, 12, 0, 0)
# The defaults: warn after 60 s, notify after 180 s and every 300 s, cancel after 15 min.
LADDER = Ladder(
    warn_seconds=60, notify_seconds=180, notify_repeat_seconds=300, auto_cancel_seconds=900
)


def at(seconds: float) -> datetime:
    return PAID + timedelta(seconds=seconds)


def look(seconds: float, level: int = 0, notified: int = 0, ladder: Ladder = LADDER) -> Decision:
    return decide(ladder, paid_at=PAID, now=at(seconds), level=level, notified=notified)


def test_nothing_is_due_before_the_warning_and_the_next_look_is_at_the_warning() -> None:
    assert look(0) == Decision(None, 0, 0, at(60))
    assert look(59.9) == Decision(None, 0, 0, at(60))


def test_the_warning_comes_once_then_the_first_notification_is_next() -> None:
    assert look(60) == Decision(Step.WARN, Level.WARNED, 0, at(180))
    # Looked at again before the notification (settings changed, a second sweep): nothing.
    assert look(100, level=1) == Decision(None, 1, 0, at(180))


def test_notifications_repeat_until_the_order_is_handled() -> None:
    assert look(180, level=1) == Decision(Step.NOTIFY, Level.NOTIFIED, 1, at(480))
    assert look(300, level=2, notified=1) == Decision(None, 2, 1, at(480))
    assert look(480, level=2, notified=1) == Decision(Step.NOTIFY, 2, 2, at(780))
    # The next notification would come after the auto-cancel: the cancel is next.
    assert look(780, level=2, notified=2) == Decision(Step.NOTIFY, 2, 3, at(900))


def test_the_auto_cancel_comes_last_and_ends_the_ladder() -> None:
    assert look(900, level=2, notified=3) == Decision(Step.CANCEL, 2, 3, None)


def test_after_an_outage_only_the_latest_step_is_taken() -> None:
    # Warning and two notifications missed: one notification, counted as the third.
    assert look(500) == Decision(Step.NOTIFY, 2, 2, at(780))
    # Everything missed, the cancel included: the cancel alone.
    assert look(3600) == Decision(Step.CANCEL, 0, 0, None)
    # The warning missed and the notification not due yet: the warning.
    assert look(179) == Decision(Step.WARN, 1, 0, at(180))


def test_without_auto_cancel_notifications_go_on() -> None:
    never = Ladder(60, 180, 300, 0)
    assert never.auto_cancel is None
    assert never.auto_cancel_at(PAID) is None
    assert look(86_400, level=2, notified=5, ladder=never).step is Step.NOTIFY
    decision = look(86_400, level=2, notified=5, ladder=never)
    assert decision.notified == notifications_due(never, timedelta(days=1))
    assert decision.next_due is not None and decision.next_due > at(86_400)


def test_a_later_ladder_does_not_repeat_a_step_taken() -> None:
    # Notified once under the defaults, then the shop moved the notification later.
    later = Ladder(60, 600, 300, 1800)
    assert look(400, level=2, notified=1, ladder=later) == Decision(None, 2, 1, at(900))


def test_the_next_look_is_always_after_now() -> None:
    for seconds in range(0, 1000, 7):
        for level, notified in ((0, 0), (1, 0), (2, 1), (2, 3)):
            decision = look(seconds, level, notified)
            if decision.step is not Step.CANCEL:
                assert decision.next_due is not None and decision.next_due > at(seconds)


def test_a_shops_own_values_override_the_defaults() -> None:
    mine = LADDER.merged(Own(warn_seconds=30, auto_cancel_minutes=0))
    assert mine == Ladder(30, 180, 300, 0)
    assert LADDER.merged(Own()) == LADDER
    assert mine.public() == {
        "warnSeconds": 30,
        "notifySeconds": 180,
        "notifyRepeatSeconds": 300,
        "autoCancelMinutes": 0,
    }
    assert Ladder(1, 2, 2, 6).public()["autoCancelMinutes"] == 0.1


@pytest.mark.parametrize(
    ("own", "field"),
    [
        (Own(warn_seconds=0), "warnSeconds"),
        (Own(notify_repeat_seconds=5), "notifyRepeatSeconds"),
        (Own(auto_cancel_minutes=1441), "autoCancelMinutes"),
        (Own(warn_seconds=200), "warnSeconds"),
        (Own(notify_seconds=900), "notifySeconds"),
        (Own(auto_cancel_minutes=3), "notifySeconds"),
    ],
)
def test_bad_values_and_steps_out_of_order_are_refused(own: Own, field: str) -> None:
    found = problems(own, LADDER.merged(own))
    assert [name for name, _ in found] == [field]


def test_a_consistent_ladder_passes() -> None:
    own = Own(warn_seconds=30, notify_seconds=60, notify_repeat_seconds=60, auto_cancel_minutes=5)
    assert problems(own, LADDER.merged(own)) == []
    # Without auto-cancel a late notification is fine.
    off = Own(notify_seconds=3600, auto_cancel_minutes=0)
    assert problems(off, LADDER.merged(off)) == []


def test_expiring_cancels_and_refunds_a_waiting_order_only() -> None:
    waiting = OrderState(OrderStatus.TO_BE_CONFIRMED, PayStatus.PAID)
    moved = apply(waiting, Action.EXPIRE)
    assert moved.state == OrderState(OrderStatus.CANCELLED, PayStatus.REFUND)
    assert settles(Action.EXPIRE) == (1, 2)
    assert Action.EXPIRE.value == "expired"
    for status in (OrderStatus.CONFIRMED, OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT):
        with pytest.raises(BusinessError, match="Cannot"):
            apply(OrderState(status, PayStatus.PAID), Action.EXPIRE)
