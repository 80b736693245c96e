"""The rule that pauses a shop nobody can hear, on a clock moved by hand."""

from __future__ import annotations

from orderbell.domain.shop_status import BY_HAND, NO_CONSOLE_ONLINE, ShopStatus
from orderbell.domain.unattended import Decisions, Seen, Watch

OPEN = Seen(1, ShopStatus.OPEN, BY_HAND)
PAUSED = Seen(1, ShopStatus.PAUSED, NO_CONSOLE_ONLINE)


def watch(*, pause_after: float = 300, grace: float = 0) -> Watch:
    return Watch(pause_after=pause_after, grace=grace, started=0)


def test_an_open_shop_unheard_for_the_whole_setting_is_paused_once_it_has_passed() -> None:
    w = watch()
    assert w.observe(10, [OPEN], set()) == Decisions()
    assert w.observe(309, [OPEN], set()) == Decisions()
    assert w.observe(310, [OPEN], set()) == Decisions(pause=(1,))


def test_a_device_online_in_between_starts_the_count_again() -> None:
    w = watch()
    w.observe(0, [OPEN], set())
    assert w.observe(200, [OPEN], {1}) == Decisions()
    assert w.observe(300, [OPEN], set()) == Decisions()
    assert w.observe(599, [OPEN], set()) == Decisions()
    assert w.observe(600, [OPEN], set()) == Decisions(pause=(1,))


def test_a_shop_paused_for_want_of_a_listener_is_resumed_when_one_is_online() -> None:
    w = watch()
    assert w.observe(0, [PAUSED], set()) == Decisions()
    assert w.observe(1, [PAUSED], {1}) == Decisions(resume=(1,))


def test_a_shop_paused_for_another_reason_is_left_alone() -> None:
    other = Seen(1, ShopStatus.PAUSED, "another_reason")
    assert watch().observe(0, [other], {1}) == Decisions()


def test_nothing_is_paused_within_the_grace_after_start() -> None:
    # After every process restarts, consoles need time to come back.
    w = watch(pause_after=10, grace=50)
    w.observe(0, [OPEN], set())
    assert w.observe(49, [OPEN], set()) == Decisions()
    assert w.observe(50, [OPEN], set()) == Decisions(pause=(1,))


def test_a_shop_closed_by_hand_meanwhile_starts_afresh_when_opened() -> None:
    w = watch()
    w.observe(0, [OPEN], set())
    assert w.unheard() == 1
    # Closed: the sweep no longer reads it.
    w.observe(100, [], set())
    assert w.unheard() == 0
    assert w.observe(350, [OPEN], set()) == Decisions()
    assert w.observe(650, [OPEN], set()) == Decisions(pause=(1,))


def test_shops_are_judged_each_on_its_own() -> None:
    w = watch(pause_after=5)
    shops = [Seen(1, ShopStatus.OPEN, None), Seen(2, ShopStatus.OPEN, None), PAUSED]
    shops[2] = Seen(3, ShopStatus.PAUSED, NO_CONSOLE_ONLINE)
    w.observe(0, shops, {2})
    assert w.observe(5, shops, {2, 3}) == Decisions(pause=(1,), resume=(3,))
