"""How often a customer may remind a shop: delay after payment, interval, count."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbell.domain.errors import TooManyRequests
from orderbell.domain.reminders import ReminderPolicy, check_reminder_timing

PAID = datetime(2026, 11, 26, 12, 0, 0)
S = timedelta(seconds=1)


def test_the_first_reminder_may_come_at_once_by_default() -> None:
    allowance = check_reminder_timing(ReminderPolicy(), now=PAID, paid_at=PAID, earlier=[])
    assert allowance.left == 2
    assert allowance.next_allowed_at == PAID + timedelta(minutes=5)
    assert allowance.as_data() == {"remindersLeft": 2, "nextAllowedAt": "2026-11-26T12:05:00.000Z"}


def test_not_before_the_delay_after_payment() -> None:
    policy = ReminderPolicy(delay=timedelta(minutes=10))
    with pytest.raises(TooManyRequests) as refused:
        check_reminder_timing(policy, now=PAID + 9 * 60 * S, paid_at=PAID, earlier=[])
    assert refused.value.retry_after == 60
    assert refused.value.status_code == 429
    assert refused.value.data == {
        "retryAfter": 60,
        "nextAllowedAt": "2026-11-26T12:10:00.000Z",
        "remindersLeft": 3,
    }
    assert "paid only just now" in refused.value.message and "1 min" in refused.value.message
    check_reminder_timing(policy, now=PAID + 600 * S, paid_at=PAID, earlier=[])


def test_one_per_interval_saying_when_the_next_is_allowed() -> None:
    policy = ReminderPolicy(interval=timedelta(minutes=5))
    last = PAID + 30 * S
    with pytest.raises(TooManyRequests) as refused:
        check_reminder_timing(policy, now=last + 61.5 * S, paid_at=PAID, earlier=[last])
    # 238.5 s to go: rounded up, so that a client waiting that long is not too early.
    assert refused.value.retry_after == 239
    assert "1 min 1 s ago" in refused.value.message
    assert "again in 3 min 59 s" in refused.value.message
    assert refused.value.data["nextAllowedAt"] == "2026-11-26T12:05:30.000Z"
    allowed = check_reminder_timing(policy, now=last + 300 * S, paid_at=PAID, earlier=[last])
    assert allowed.left == 1


def test_at_most_so_many_per_order_and_waiting_does_not_help() -> None:
    policy = ReminderPolicy(interval=timedelta(0), max_per_order=2)
    earlier = [PAID, PAID + S]
    with pytest.raises(TooManyRequests) as refused:
        check_reminder_timing(policy, now=PAID + timedelta(days=1), paid_at=PAID, earlier=earlier)
    assert refused.value.retry_after is None
    assert refused.value.data == {"retryAfter": None, "nextAllowedAt": None, "remindersLeft": 0}
    assert "2 times" in refused.value.message
    last = check_reminder_timing(policy, now=PAID + 2 * S, paid_at=PAID, earlier=earlier[:1])
    assert (last.left, last.next_allowed_at) == (0, None)


def test_times_are_rounded_up_to_the_millisecond() -> None:
    policy = ReminderPolicy(interval=timedelta(seconds=1))
    last = datetime(2026, 1, 1, 0, 0, 0, 123_456)
    with pytest.raises(TooManyRequests) as refused:
        check_reminder_timing(policy, now=last, paid_at=None, earlier=[last])
    assert refused.value.data["nextAllowedAt"] == "2026-01-01T00:00:01.124Z"


@pytest.mark.parametrize(
    "policy",
    [
        {"delay": timedelta(seconds=-1)},
        {"interval": timedelta(seconds=-1)},
        {"max_per_order": 0},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(policy: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ReminderPolicy(**policy)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    delay=st.integers(0, 600),
    interval=st.integers(0, 600),
    most=st.integers(1, 5),
    gaps=st.lists(st.integers(0, 400_000), min_size=1, max_size=30),
)
def test_a_stream_of_requests_is_granted_exactly_what_the_rules_allow(
    delay: int, interval: int, most: int, gaps: list[int]
) -> None:
    """Whatever the requests' times (in ms), the granted ones keep every rule, none
    is refused that the rules allow, and a refusal's retry time is honest."""
    policy = ReminderPolicy(
        delay=timedelta(seconds=delay), interval=timedelta(seconds=interval), max_per_order=most
    )
    granted: list[datetime] = []
    now = PAID
    for gap in gaps:
        now += timedelta(milliseconds=gap)
        allowed_by_rules = (
            len(granted) < most
            and now >= PAID + policy.delay
            and (not granted or now >= granted[-1] + policy.interval)
        )
        try:
            allowance = check_reminder_timing(policy, now=now, paid_at=PAID, earlier=granted)
        except TooManyRequests as refused:
            assert not allowed_by_rules
            if refused.retry_after is None:
                assert len(granted) >= most
            else:
                later = now + timedelta(seconds=refused.retry_after)
                check_reminder_timing(policy, now=later, paid_at=PAID, earlier=granted)
            continue
        assert allowed_by_rules
        granted.append(now)
        assert allowance.left == most - len(granted)
    assert len(granted) <= most
    assert all(b - a >= policy.interval for a, b in itertools.pairwise(granted))
    assert all(g >= PAID + policy.delay for g in granted)
