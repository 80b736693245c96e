"""Claiming outgoing rows on a real SQLite database: a capped target (one that keeps
failing) gets its one row without its many due rows crowding out the others',
and a claim reads the queued rows by the partial index, whatever the history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from orderbell.domain.events import Event, EventType
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'outgoing.db'}"
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url)
    yield db
    await db.dispose()


async def queue(db: Database, target: int, count: int) -> None:
    async with db.transaction() as session:
        for _ in range(count):
            await outgoing.queue_for(session, target, Event(EventType.WEBHOOK_TEST, None, {}))


async def test_a_capped_target_gets_its_one_row_and_the_others_are_not_crowded_out(
    database: Database,
) -> None:
    await queue(database, 1, 300)  # a dead endpoint's backlog, due first
    await queue(database, 2, 20)
    async with database.transaction() as session:
        rows = await outgoing.claim(
            session,
            limit=10,
            per_target=16,
            lease=timedelta(seconds=60),
            lock=False,
            caps={(outgoing.WEBHOOK, 1): 1},
        )
    assert sorted(r.target_id for r in rows) == [1] + [2] * 9
    # Without the cap, the backlog would have taken every place.
    async with database.transaction() as session:
        rows = await outgoing.claim(
            session, limit=10, per_target=16, lease=timedelta(seconds=60), lock=False
        )
    assert {r.target_id for r in rows} == {1}


async def test_the_claim_reads_queued_rows_by_the_partial_index(database: Database) -> None:
    async with database.sessions() as session:
        plan = (
            await session.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM outgoing WHERE state = 'queued' "
                    "AND next_attempt_at <= '2030-01-01' AND kind IN ('webhook', 'push') "
                    "ORDER BY next_attempt_at LIMIT 10"
                )
            )
        ).all()
    assert any("ix_outgoing_due" in str(row[-1]) for row in plan), plan
