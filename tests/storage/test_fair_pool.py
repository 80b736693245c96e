"""Waiting for the one SQLite connection is first come, first served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from orderbell.storage.database import Database, FairQueue


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fair.db'}")
    yield db
    await db.dispose()


async def test_newcomers_do_not_overtake_those_already_waiting(database: Database) -> None:
    # A burst: the connection is busy, three requests wait for it, and new
    # ones keep arriving while it is handed back.
    served: list[str] = []
    release = asyncio.Event()

    async def hold() -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            served.append("holder")
            await release.wait()

    async def ask(name: str) -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            served.append(name)

    holder = asyncio.create_task(hold())
    while not served:
        await asyncio.sleep(0)
    waiting = []
    for name in ("a", "b", "c"):
        waiting.append(asyncio.create_task(ask(name)))
        for _ in range(5):
            await asyncio.sleep(0)
    release.set()
    newcomers = []
    for k in range(6):
        newcomers.append(asyncio.create_task(ask(f"new{k}")))
        await asyncio.sleep(0)
    await asyncio.gather(holder, *waiting, *newcomers)
    assert served == ["holder", "a", "b", "c", *(f"new{k}" for k in range(6))]


async def test_waiters_are_served_in_arrival_order_and_one_that_gives_up_is_skipped(
    database: Database,
) -> None:
    served: list[str] = []
    release = asyncio.Event()

    async def hold() -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            served.append("holder")
            await release.wait()

    async def ask(name: str) -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            served.append(name)

    holder = asyncio.create_task(hold())
    while not served:
        await asyncio.sleep(0.001)
    pool = database.engine.sync_engine.pool
    queue = pool._pool  # type: ignore[attr-defined]
    assert isinstance(queue, FairQueue)
    tasks = {}
    for name in ("a", "b", "c", "d"):
        tasks[name] = asyncio.create_task(ask(name))
        while queue.waiting < len(tasks):
            await asyncio.sleep(0.001)
    tasks["b"].cancel()  # a request whose client went away while it waited
    with pytest.raises(asyncio.CancelledError):
        await tasks["b"]
    assert queue.waiting == 3
    release.set()
    await asyncio.gather(holder, tasks["a"], tasks["c"], tasks["d"])
    assert served == ["holder", "a", "c", "d"]
    assert queue.waiting == 0


async def test_a_wait_longer_than_the_pool_timeout_fails_and_frees_its_place() -> None:
    queue: FairQueue[str] = FairQueue(1)
    from sqlalchemy.util import greenlet_spawn
    from sqlalchemy.util.queue import Empty

    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.05)
    assert queue.waiting == 0
    queue.put("connection", False)
    assert await greenlet_spawn(queue.get, True, 0.05) == "connection"
