"""The sweep that pauses shops nobody can hear and resumes them when someone is back.

Every process runs it every ``interval`` seconds: it reads the open shops
(and those paused for want of a listener), asks presence which of them have a
device online across all processes, and applies ``domain.unattended``'s
rule. ``shop_status.pause`` and ``resume`` are conditional moves, so a
decision that several processes take at once is made and recorded once, and
a shop paused by a process that then died is resumed by any other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import and_, or_, select

from orderbell.domain.shop_status import NO_CONSOLE_ONLINE, ShopStatus
from orderbell.domain.unattended import CONSOLE_ONLINE, Decisions, Seen, Watch
from orderbell.services import shop_status
from orderbell.services.chores import Chores
from orderbell.services.outbox import Outbox
from orderbell.storage.tables import Shop

log = logging.getLogger(__name__)

#: The shops of those given with at least one device online, across every process.
Heard = Callable[[Sequence[int]], Awaitable[set[int]]]


def heard_by_any(*sources: Heard) -> Heard:
    """One ``Heard`` from several: a shop is heard when any source hears it (a
    console online, or, with auto-accept on, a printer online); each later
    source is asked only about the shops the earlier ones did not hear."""

    async def heard(shop_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for source in sources:
            rest = [s for s in shop_ids if s not in found]
            if not rest:
                break
            found |= await source(rest)
        return found

    return heard


#: Shops read (and asked about) at a time: a look at thousands of shops
#: gives the event loop back between slices instead of holding it.
SLICE = 1000


class UnattendedShops:
    """Pauses open shops with no device online for ``pause_after`` seconds.

    Args:
        outbox: where shop status changes are made (and announced after commit).
        heard: presence's answer to which shops have a device online.
        pause_after: seconds without a listener before a pause; 0 turns the sweep off.
        grace: seconds after start before this process pauses anything.
        interval: seconds between two looks.
        clock: a monotonic clock in seconds (tests move one by hand).
    """

    def __init__(
        self,
        outbox: Outbox,
        heard: Heard,
        *,
        pause_after: float,
        grace: float,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._heard = heard
        self._interval = interval
        self._clock = clock
        self._watch = Watch(pause_after=pause_after, grace=grace, started=clock())
        self._chores = Chores("unattended shops")
        self.enabled = pause_after > 0

    def start(self) -> None:
        """Look every ``interval`` seconds until ``stop`` (nothing when turned off)."""
        if self.enabled:
            self._chores.every(self._interval, self.sweep, spread=True)

    async def stop(self) -> None:
        """Stop looking."""
        await self._chores.stop()

    async def sweep(self) -> Decisions:
        """One look: pause and resume what the rule says; returns what it decided
        (a move another process made first is decided here too, and changes nothing)."""
        shops: list[Seen] = []
        heard: set[int] = set()
        after = 0
        while True:
            async with self._outbox.database.sessions() as session:
                rows = (
                    await session.execute(
                        select(Shop.id, Shop.status, Shop.status_reason)
                        .where(Shop.id > after, _WATCHED)
                        .order_by(Shop.id)
                        .limit(SLICE)
                    )
                ).all()
            if not rows:
                break
            seen = [Seen(id_, ShopStatus(status), reason) for id_, status, reason in rows]
            shops += seen
            heard |= await self._heard([s.shop_id for s in seen])
            after = seen[-1].shop_id
            if len(rows) < SLICE:
                break
        decisions = self._watch.observe(self._clock(), shops, heard)
        for shop_id in decisions.pause:
            if await shop_status.pause(self._outbox, shop_id, NO_CONSOLE_ONLINE):
                log.warning("shop %d paused: no console online", shop_id)
        for shop_id in decisions.resume:
            if await shop_status.resume(self._outbox, shop_id, CONSOLE_ONLINE):
                log.info("shop %d resumed: a console is online again", shop_id)
        return decisions


#: The shops the sweep looks at: open ones, and those it paused itself.
_WATCHED = or_(
    Shop.status == ShopStatus.OPEN.value,
    and_(Shop.status == ShopStatus.PAUSED.value, Shop.status_reason == NO_CONSOLE_ONLINE),
)
