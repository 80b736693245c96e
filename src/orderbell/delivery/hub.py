"""The hub: one per server process; knows which consoles of which shop are here.

A frame arrives from the broker once per process. The hub decodes it to text
once and offers that same string to every console of the shop; offering
never awaits, so one slow console cannot hold the others back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from orderbell.broker import Broker
from orderbell.delivery.consoles import Console

log = logging.getLogger(__name__)


class Hub:
    """Fan-out of a shop's frames to that shop's consoles in this process."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._consoles: defaultdict[int, set[Console]] = defaultdict(set)
        self._subscribed: set[int] = set()
        self._lock = asyncio.Lock()
        broker.attach(self.deliver)

    def count(self, shop_id: int | None = None) -> int:
        """How many consoles are connected here (of one shop, or of all)."""
        if shop_id is not None:
            return len(self._consoles.get(shop_id, ()))
        return sum(len(c) for c in self._consoles.values())

    async def join(self, console: Console) -> None:
        """Start delivering the frames of the console's shop to it."""
        self._consoles[console.shop_id].add(console)
        await self._sync_subscription(console.shop_id)

    async def leave(self, console: Console) -> None:
        """Stop delivering to the console (it closed or was cut off)."""
        self._forget(console)
        await self._sync_subscription(console.shop_id)

    def deliver(self, shop_id: int, payload: bytes) -> None:
        """Offer one frame to every console of ``shop_id`` here; drop the dead ones."""
        consoles = self._consoles.get(shop_id)
        if not consoles:
            return
        text = payload.decode()
        dead = [c for c in consoles if not c.offer(text)]
        for console in dead:
            self._forget(console)
        if dead and not self._consoles.get(shop_id):
            asyncio.get_running_loop().create_task(self._sync_subscription(shop_id))

    def _forget(self, console: Console) -> None:
        consoles = self._consoles.get(console.shop_id)
        if consoles is not None:
            consoles.discard(console)
            if not consoles:
                del self._consoles[console.shop_id]

    async def _sync_subscription(self, shop_id: int) -> None:
        # Serialized, and re-checked under the lock, so that a join racing a
        # leave always ends with the broker subscription matching the set.
        async with self._lock:
            wanted = bool(self._consoles.get(shop_id))
            if wanted and shop_id not in self._subscribed:
                await self._broker.subscribe(shop_id)
                self._subscribed.add(shop_id)
            elif not wanted and shop_id in self._subscribed:
                self._subscribed.discard(shop_id)
                await self._broker.unsubscribe(shop_id)
