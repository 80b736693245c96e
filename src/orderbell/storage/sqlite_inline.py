"""An aiosqlite connection that runs statements on the event loop's own thread.

aiosqlite sends every call (cursor, execute, fetch, close) to a worker
thread and back. For the small transactions of a shop those hops, and the
GIL hand-overs they cause, cost many times what SQLite itself takes to run
the statements from its page cache. Here every call runs inline, with one
exception handled without blocking: ``BEGIN`` finding the database locked by
another process (an admin command, say) is retried with ``asyncio.sleep``
until the busy timeout, instead of SQLite's own busy handler sleeping on the
event loop. In WAL mode nothing else waits for a lock: readers never block,
and a transaction begun with ``BEGIN IMMEDIATE`` already holds the write lock.

The pool has one connection, used by one task at a time, so the worker
thread (kept only for opening and closing) and the loop never use it together.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

BUSY_TIMEOUT = 10.0


def _is_begin(args: tuple[Any, ...]) -> bool:
    return bool(args) and isinstance(args[0], str) and args[0].lstrip()[:5].upper() == "BEGIN"


class InlineConnection(aiosqlite.Connection):
    """``aiosqlite.Connection`` whose calls run without a thread hop."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if not _is_begin(args):
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_TIMEOUT
        delay = 0.001
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or loop.time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)


async def connect(path: str) -> aiosqlite.Connection:
    """Open ``path`` as an inline connection.

    SQLite's own busy handler is off (``busy_timeout`` 0): waiting for a lock
    is done by ``InlineConnection`` without blocking the loop.
    """

    def connector() -> sqlite3.Connection:
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=0")
        return connection

    return await InlineConnection(connector, 64)
