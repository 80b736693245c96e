"""The inline SQLite connection: a locked BEGIN waits without blocking the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from orderbell.storage import sqlite_inline


async def test_a_locked_begin_waits_while_the_loop_keeps_running(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    connection = await sqlite_inline.connect(str(path))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    asyncio.get_running_loop().call_later(0.3, holder.execute, "COMMIT")
    try:
        await connection.execute("BEGIN IMMEDIATE")
        await connection.execute("INSERT INTO t VALUES (1)")
        await connection.commit()
    finally:
        ticker.cancel()
        await connection.close()
        holder.close()
    assert ticks >= 10, "the loop ran while BEGIN waited"
    assert sqlite3.connect(path).execute("SELECT x FROM t").fetchall() == [(1,)]


async def test_a_lock_held_past_the_busy_timeout_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_TIMEOUT", 0.2)
    path = tmp_path / "stuck.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    connection = await sqlite_inline.connect(str(path))
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await connection.execute("BEGIN IMMEDIATE")
    finally:
        await connection.close()
        holder.close()
