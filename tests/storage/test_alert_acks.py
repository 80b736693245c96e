"""Alert acks on a real SQLite database: many acks of one alert are one write,
and of two writers (two processes) the earliest time stays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from orderbell.services.accounts import create_shop
from orderbell.services.alert_acks import AlertAcks
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from orderbell.storage.tables import AlertRow
from tests.support.clocks import Clock


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'acks.db'}"
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url)
    yield db
    await db.dispose()


async def rung_at(db: Database, shop_id: int, seq: int) -> datetime | None:
    async with db.sessions() as session:
        return await session.scalar(
            select(AlertRow.first_rung_at).where(AlertRow.shop_id == shop_id, AlertRow.seq == seq)
        )


async def test_ten_thousand_acks_of_one_alert_are_one_write_and_the_earliest_time_stays(
    database: Database,
) -> None:
    shop = await create_shop(database, "Acks")
    async with database.transaction() as session:
        session.add(AlertRow(shop_id=shop.id, seq=1, type=1, order_number="1", content="x"))
    clock = Clock()
    mine, theirs = AlertAcks(database, clock=clock.utcnow), AlertAcks(database, clock=clock.utcnow)

    start = clock.utcnow()
    for _ in range(10_000):
        mine.record(shop.id, 1, "rung")
        clock.advance(0.001)
    assert mine.pending == 1
    await mine.flush()
    assert (mine.writes, mine.pending) == (1, 0)
    assert await rung_at(database, shop.id, 1) == start

    # Heard again later: this process wrote an earlier time, so nothing is held.
    mine.record(shop.id, 1, "rung")
    assert mine.pending == 0

    # Another process heard it later and writes after: the earlier time stays...
    theirs.record(shop.id, 1, "rung")
    await theirs.flush()
    assert await rung_at(database, shop.id, 1) == start
    # ...and one that heard it earlier replaces it, whatever the order of writes.
    clock.advance(-3600)
    theirs.record(shop.id, 1, "rung")
    await theirs.flush()
    assert await rung_at(database, shop.id, 1) == start - timedelta(seconds=3600 - 10)
