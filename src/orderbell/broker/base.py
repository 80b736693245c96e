"""The broker interface shared by every implementation."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

#: Called with (shop id, frame bytes) for every message of a subscribed shop.
#: It must not block: the hub only hands the frame on to its consoles.
Receiver = Callable[[int, bytes], None]

#: Awaited after the broker got its connection back: messages published while
#: it was away are lost to this process, so the hook re-reads them from the log.
ReconnectHook = Callable[[], Awaitable[None]]


class Broker(ABC):
    """Per-shop publish/subscribe of already-encoded frames.

    A process subscribes to a shop while it has at least one console of that
    shop, so it only ever sees the traffic of its own consoles' shops.
    Delivery is at most once per subscriber: the alert log and the consoles'
    resume by seq make up for anything a broker drops, and the
    ``on_reconnect`` hook tells the hub when a broker may have dropped some.
    """

    #: True when ``publish`` never waits on a network (the in-process broker):
    #: the outbox then publishes inline instead of in the background.
    instant = False

    def __init__(self) -> None:
        self._receiver: Receiver | None = None
        self._reconnect_hook: ReconnectHook | None = None
        #: How many times the connection was re-established (for metrics).
        self.reconnects = 0

    def attach(self, receiver: Receiver) -> None:
        """Set the function that gets every message of the subscribed shops."""
        self._receiver = receiver

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Set the coroutine function awaited each time the broker has its
        subscriptions in place again after it may have missed messages: its
        connection was lost, or shops were subscribed while it had none.

        It runs once every subscription is confirmed, so whatever it reads
        from the alert log, anything newer arrives through the broker. The
        in-process broker never loses its connection and never calls it.
        An exception from the hook is logged, not raised.
        """
        self._reconnect_hook = hook

    def _deliver(self, shop_id: int, payload: bytes) -> None:
        if self._receiver is not None:
            self._receiver(shop_id, payload)

    async def _reconnected(self) -> None:
        self.reconnects += 1
        if self._reconnect_hook is None:
            return
        try:
            await self._reconnect_hook()
        except Exception:
            log.exception("the broker's reconnect hook failed")

    @abstractmethod
    async def connect(self) -> None:
        """Open connections; called once at startup."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close connections; called once at shutdown."""

    @abstractmethod
    async def subscribe(self, shop_id: int) -> None:
        """Start receiving the messages of ``shop_id``."""

    @abstractmethod
    async def unsubscribe(self, shop_id: int) -> None:
        """Stop receiving the messages of ``shop_id``."""

    @abstractmethod
    async def publish(self, shop_id: int, payload: bytes) -> None:
        """Send ``payload`` to every process subscribed to ``shop_id``.

        Raises:
            OSError or the implementation's connection error when the message
            could not be handed over; the caller leaves the alert unpublished
            in the log for the relay to retry.
        """

    async def publish_many(self, messages: Sequence[tuple[int, bytes]]) -> None:
        """Send each ``(shop id, payload)``, in order; all or, on error, an unknown part.

        Raises:
            the same as ``publish``; the caller leaves every message of the
            batch to the relay (a duplicate is harmless).
        """
        for shop_id, payload in messages:
            await self.publish(shop_id, payload)

    async def ping(self) -> None:  # noqa: B027 - optional hook; memory has nothing to check
        """Raise if the broker cannot be reached."""
