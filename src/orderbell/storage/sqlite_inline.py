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

This overrides a private method of aiosqlite (``Connection._execute``, the
one funnel every call goes through) and reads two of its attributes
(``_running``, ``_connection``). pyproject.toml allows only the aiosqlite
releases this was tested with, and ``inline_unsupported`` (run once at
startup) says why the installed one cannot run statements inline; the
database then uses plain aiosqlite, with SQLite's own busy timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url

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


def inline_unsupported() -> str | None:
    """Why the installed aiosqlite cannot run statements inline; None when it can.

    Looks for the private method that ``InlineConnection`` overrides, then
    opens an in-memory database through it and checks that a statement and a
    ``BEGIN`` ran on the event loop's own thread. Runs on an event loop of
    its own, in a thread of its own, so it can be called from anywhere.
    """
    release = f"aiosqlite {version('aiosqlite')}"
    if not inspect.iscoroutinefunction(getattr(aiosqlite.Connection, "_execute", None)):
        return f"{release}: Connection has no coroutine _execute() to override"
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="sqlite-inline-check") as pool:
            reason = pool.submit(asyncio.run, _run_inline()).result(timeout=10)
    except Exception as exc:
        reason = f"a test connection failed: {exc!r}"
    return None if reason is None else f"{release}: {reason}"


async def _run_inline() -> str | None:
    loop_thread = threading.get_ident()

    def connector() -> sqlite3.Connection:
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.create_function("thread", 0, threading.get_ident)
        return connection

    connection = await InlineConnection(connector, 64)
    try:
        await connection.execute("BEGIN IMMEDIATE")
        async with connection.execute("SELECT thread()") as cursor:
            row = await cursor.fetchone()
        await connection.rollback()
    finally:
        await connection.close()
    if row is None or row[0] != loop_thread:
        return "its calls no longer go through Connection._execute (a statement ran on its thread)"
    return None


def unsupported_for(database_url: str) -> str | None:
    """``inline_unsupported()`` for a SQLite URL; None (nothing to check) for any other."""
    if make_url(database_url).get_driver_name() != "aiosqlite":
        return None
    return inline_unsupported()
