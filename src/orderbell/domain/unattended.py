"""Whether anybody listens to a shop: the rule behind pausing a shop nobody can hear.

An open shop with no device online for ``pause_after`` seconds is paused
(reason ``no_console_online``); a shop paused for that reason is resumed as
soon as a device is online again. A shop closed by hand is never touched.

Each server process keeps its own ``Watch``: when it first saw each shop
unheard. Several processes may decide the same pause; the stored move is
conditional, so it happens and is recorded once. Nothing is paused before
``grace`` has passed since the process started, so that after every process
restarts at once the consoles have time to come back (and the devices of a
process that died have time to expire) before anyone is judged unheard.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from orderbell.domain.shop_status import NO_CONSOLE_ONLINE, ShopStatus

#: The reason recorded when a paused shop is heard again.
CONSOLE_ONLINE = "console_online"


@dataclass(frozen=True, slots=True)
class Seen:
    """A shop as a sweep reads it: its status and why it is in it."""

    shop_id: int
    status: ShopStatus
    reason: str | None


@dataclass(frozen=True, slots=True)
class Decisions:
    """The shops to pause and to resume after one look."""

    pause: tuple[int, ...] = ()
    resume: tuple[int, ...] = ()


@dataclass(slots=True)
class Watch:
    """What one process has seen of the shops' listeners, on a monotonic clock (seconds).

    Args:
        pause_after: seconds without a device online before an open shop is paused.
        grace: seconds after ``started`` before any shop is paused.
        started: when the process started, on the same clock as ``observe``'s ``now``.
    """

    pause_after: float
    grace: float
    started: float
    _unheard_since: dict[int, float] = field(default_factory=dict)

    def observe(self, now: float, shops: Iterable[Seen], heard: Container[int]) -> Decisions:
        """Take in one look at ``shops`` (open ones, and those paused for want of a
        listener) and which of them are ``heard`` (a device online); what to do now."""
        pause: list[int] = []
        resume: list[int] = []
        looked: set[int] = set()
        settled = now - self.started >= self.grace
        for shop in shops:
            looked.add(shop.shop_id)
            if shop.shop_id in heard:
                self._unheard_since.pop(shop.shop_id, None)
                if shop.status is ShopStatus.PAUSED and shop.reason == NO_CONSOLE_ONLINE:
                    resume.append(shop.shop_id)
            elif shop.status is ShopStatus.OPEN:
                since = self._unheard_since.setdefault(shop.shop_id, now)
                if settled and now - since >= self.pause_after:
                    pause.append(shop.shop_id)
        # Shops closed by hand (or gone) start afresh when they are open again.
        for shop_id in self._unheard_since.keys() - looked:
            del self._unheard_since[shop_id]
        return Decisions(tuple(pause), tuple(resume))

    def unheard(self) -> int:
        """How many open shops this process has seen without a listener."""
        return len(self._unheard_since)
