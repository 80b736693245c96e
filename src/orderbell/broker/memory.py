"""The in-process broker: for one server process (the embedded default)."""

from __future__ import annotations

from orderbell.broker.base import Broker


class MemoryBroker(Broker):
    """Hands each published frame straight to this process's hub."""

    instant = True

    def __init__(self) -> None:
        super().__init__()
        self._shops: set[int] = set()

    async def connect(self) -> None:
        """Nothing to open."""

    async def disconnect(self) -> None:
        """Forget every subscription."""
        self._shops.clear()

    async def subscribe(self, shop_id: int) -> None:
        """Start passing on ``shop_id``'s frames."""
        self._shops.add(shop_id)

    async def unsubscribe(self, shop_id: int) -> None:
        """Stop passing on ``shop_id``'s frames."""
        self._shops.discard(shop_id)

    async def publish(self, shop_id: int, payload: bytes) -> None:
        """Deliver now if a console of the shop is connected here; drop otherwise."""
        if shop_id in self._shops:
            self._deliver(shop_id, payload)
