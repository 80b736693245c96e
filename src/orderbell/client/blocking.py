"""A blocking wrapper of ``ConsoleClient`` for code without an event loop."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from orderbell.client.console import ConsoleClient
from orderbell.client.events import Alert, Event

T = TypeVar("T")
_DONE = object()


class BlockingConsoleClient:
    """``ConsoleClient`` run on an event loop in a background thread.

    Use as a context manager; iterate ``alerts()`` or ``events()`` in a plain
    ``for`` loop and call ``confirm``/``reject``/``reply`` from it.
    Arguments are those of ``ConsoleClient``.
    """

    def __init__(self, url: str, username: str, password: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="orderbell-client", daemon=True
        )
        self._thread.start()
        self._client: ConsoleClient = self._run(self._make(url, username, password, options))

    @staticmethod
    async def _make(
        url: str, username: str, password: str, options: dict[str, Any]
    ) -> ConsoleClient:
        return ConsoleClient(url, username, password, **options)

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def __enter__(self) -> BlockingConsoleClient:
        self.login()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self) -> None:
        """Log in (raises ``LoginFailed`` or ``ServerUnreachable``)."""
        self._run(self._client.login())

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events as ``ConsoleClient.events``; stops after ``timeout`` seconds without one."""
        items: queue.Queue[object] = queue.Queue()

        async def pump() -> None:
            try:
                async for event in self._client.events():
                    items.put(event)
            except BaseException as exc:
                items.put(exc)
            finally:
                items.put(_DONE)

        future = asyncio.run_coroutine_threadsafe(pump(), self._loop)
        try:
            while True:
                try:
                    item = items.get(timeout=timeout)
                except queue.Empty:
                    return
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            future.cancel()

    def alerts(self, timeout: float | None = None) -> Iterator[Alert]:
        """Only the alerts of ``events()``."""
        for event in self.events(timeout):
            if isinstance(event, Alert):
                yield event

    def order(self, order_id: int) -> dict[str, Any]:
        """The order's details."""
        return self._run(self._client.order(order_id))

    def confirm(self, order_id: int) -> None:
        """Accept an order."""
        self._run(self._client.confirm(order_id))

    def reject(self, order_id: int, reason: str) -> None:
        """Reject an order."""
        self._run(self._client.reject(order_id, reason))

    def reply(self, order_id: int, choice: str, text: str | None = None) -> str:
        """Answer an order's open reminders."""
        return self._run(self._client.reply(order_id, choice, text))

    @property
    def last_seq(self) -> int:
        """The seq of the last alert processed."""
        return self._client.last_seq

    def close(self) -> None:
        """Close the client and stop its thread."""
        self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
