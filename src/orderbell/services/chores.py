"""Work that repeats in the background every few seconds until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Chores:
    """A set of repeating background jobs, started together and stopped together.

    A job that raises is logged in one line and tried again at its next turn:
    a database or broker outage must not end it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: list[asyncio.Task[None]] = []

    def every(
        self, seconds: float, work: Callable[[], Awaitable[object]], *, spread: bool = False
    ) -> None:
        """Run ``work`` every ``seconds``; with ``spread``, first after a random part of
        the interval, so that several processes do not all start at once."""
        self._tasks.append(asyncio.create_task(self._repeat(seconds, work, spread)))

    async def stop(self) -> None:
        """Cancel every job and wait for it to end."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _repeat(
        self, seconds: float, work: Callable[[], Awaitable[object]], spread: bool
    ) -> None:
        await asyncio.sleep(seconds * random.random() if spread else seconds)
        while True:
            try:
                await work()
            except Exception as exc:
                log.warning("%s: background work failed (tried again later): %r", self._name, exc)
                log.debug("%s: background failure", self._name, exc_info=True)
            await asyncio.sleep(seconds)
