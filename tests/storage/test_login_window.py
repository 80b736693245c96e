"""The login throttle's window, on a real SQLite database and a clock moved by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from orderbell.domain.errors import TooManyRequests
from orderbell.services.login_throttle import LoginPolicy, LoginThrottle
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from tests.support.clocks import Clock

POLICY = LoginPolicy(max_per_account=2, max_per_address=100, window=timedelta(minutes=15))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'throttle.db'}"
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url)
    yield db
    await db.dispose()


async def test_a_paused_account_waits_out_the_window_to_the_second(database: Database) -> None:
    clock = Clock()
    throttle = LoginThrottle(database, POLICY, clock=clock.utcnow)

    async def attempt() -> None:
        await throttle.begin(account="merchant:boss", address="192.0.2.1")

    await attempt()
    clock.advance(60)
    await attempt()
    clock.advance(60)
    with pytest.raises(TooManyRequests) as paused:
        await attempt()
    # The window started at the first failure, two minutes ago.
    assert paused.value.retry_after == 13 * 60
    clock.advance(13 * 60 - 1)
    with pytest.raises(TooManyRequests) as still:
        await attempt()
    assert still.value.retry_after == 1, "tries while paused do not lengthen the pause"
    clock.advance(1)
    await attempt()  # a new window: this is its first failure
