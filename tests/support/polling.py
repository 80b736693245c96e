"""Waiting for something to happen: a bounded poll instead of a fixed sleep.

A test that sleeps "long enough" races the server on a busy machine; one
that polls for the event it needs waits exactly as long as that takes, and
fails with a message when it never comes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: How long a test waits for an event before it calls it missing: generous,
#: since the machine may be busy with other test runs.
PATIENCE = 30.0


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = PATIENCE,  # noqa: ASYNC109 (a budget for the whole poll)
    *,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Poll ``predicate`` (a plain or an async callable) until it returns something
    true, and return that.

    Raises:
        AssertionError: it was still false after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], T], timeout: float = PATIENCE, *, interval: float = 0.05, what: str = ""
) -> T:
    """``wait_until`` for code without an event loop (threads, process start-up)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
