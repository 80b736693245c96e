"""The rules of a shop's status: who may move it where, and what a customer is told."""

from __future__ import annotations

import pytest

from orderbell.domain.shop_status import (
    CLOSED_MESSAGE,
    PAUSED_MESSAGE,
    ShopStatus,
    from_original_code,
    original_code,
    pause,
    refusal,
    resume,
    set_by_merchant,
    takes_orders,
)

OPEN, CLOSED, PAUSED = ShopStatus.OPEN, ShopStatus.CLOSED, ShopStatus.PAUSED


def test_only_an_open_shop_takes_orders_and_reads_as_1() -> None:
    assert [takes_orders(s) for s in (OPEN, CLOSED, PAUSED)] == [True, False, False]
    assert [original_code(s) for s in (OPEN, CLOSED, PAUSED)] == [1, 0, 0]


def test_the_original_integers_name_open_and_closed_and_nothing_else() -> None:
    assert from_original_code(1) is OPEN
    assert from_original_code(0) is CLOSED
    for bad in (2, -1, 10):
        with pytest.raises(ValueError, match="1 \\(open\\) or 0 \\(closed\\)"):
            from_original_code(bad)


def test_a_customer_is_told_why_a_shop_takes_no_orders() -> None:
    assert refusal(OPEN) is None
    assert refusal(CLOSED) == CLOSED_MESSAGE and "店铺已打烊" in CLOSED_MESSAGE
    assert "closed" in CLOSED_MESSAGE
    assert refusal(PAUSED) == PAUSED_MESSAGE and "cannot take orders right now" in PAUSED_MESSAGE


@pytest.mark.parametrize(
    ("current", "wanted", "after"),
    [
        (OPEN, CLOSED, CLOSED),
        (CLOSED, OPEN, OPEN),
        (PAUSED, OPEN, OPEN),
        (PAUSED, CLOSED, CLOSED),
    ],
)
def test_a_merchant_opens_and_closes_from_any_state(
    current: ShopStatus, wanted: ShopStatus, after: ShopStatus
) -> None:
    change = set_by_merchant(current, wanted)
    assert (change.before, change.after, change.changed) == (current, after, True)


def test_asking_for_the_state_the_shop_is_in_changes_nothing() -> None:
    assert not set_by_merchant(OPEN, OPEN).changed
    assert not set_by_merchant(CLOSED, CLOSED).changed


def test_a_merchant_cannot_pause() -> None:
    with pytest.raises(ValueError, match="only the system pauses"):
        set_by_merchant(OPEN, PAUSED)


def test_the_system_pauses_only_an_open_shop() -> None:
    assert pause(OPEN).after is PAUSED and pause(OPEN).changed
    assert not pause(CLOSED).changed and pause(CLOSED).after is CLOSED
    assert not pause(PAUSED).changed


def test_the_system_resumes_only_a_paused_shop_never_one_closed_by_hand() -> None:
    assert resume(PAUSED).after is OPEN and resume(PAUSED).changed
    assert not resume(CLOSED).changed and resume(CLOSED).after is CLOSED
    assert not resume(OPEN).changed
