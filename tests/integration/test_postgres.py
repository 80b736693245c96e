"""The storage layer on the real PostgreSQL (and SQLite, where both apply)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, select, text
from sqlalchemy.util import await_only

from orderbell.domain.alerts import AlertType
from orderbell.services.accounts import create_shop
from orderbell.services.publishing import create_api_key, revoke_api_key
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.schema import alembic_config, upgrade_database
from orderbell.storage.tables import AlertRow, Base, utcnow

TABLES = {t.name for t in Base.metadata.sorted_tables}


def _migrate_down_and_up(url: str) -> None:
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")


async def _tables(url: str) -> tuple[set[str], str | None]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        return names, version
    finally:
        await db.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_migrations_go_up_down_and_up_again(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    else:
        url = request.getfixturevalue("empty_postgres_url")
    await asyncio.to_thread(_migrate_down_and_up, url)
    names, version = await _tables(url)
    assert names >= TABLES
    assert version == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    # Running it again changes nothing.
    await asyncio.to_thread(upgrade_database, url)


async def test_concurrent_alerts_of_one_shop_get_gapless_seqs_even_with_rollbacks(
    postgres_url: str,
) -> None:
    # Two engines, as two processes would have, appending at once; every
    # fifth transaction fails after taking its seq, which must come back.
    engines = [Database(postgres_url), Database(postgres_url)]
    try:
        shop = await create_shop(engines[0], "Seq Kitchen")

        async def one(i: int) -> int | None:
            try:
                async with engines[i % 2].transaction() as session:
                    alert = await alert_log.append(
                        session,
                        shop_id=shop.id,
                        type=AlertType.NEW_ORDER,
                        order_id=None,
                        order_number=f"n{i}",
                    )
                    if i % 5 == 4:
                        raise RuntimeError("rolled back")
                    return alert.seq
            except RuntimeError:
                return None

        seqs = [s for s in await asyncio.gather(*(one(i) for i in range(60))) if s is not None]
        assert sorted(seqs) == list(range(1, 49))
        async with engines[0].sessions() as session:
            stored = list(
                await session.scalars(
                    select(AlertRow.seq).where(AlertRow.shop_id == shop.id).order_by(AlertRow.seq)
                )
            )
            assert stored == list(range(1, 49))
            assert await alert_log.latest_seq(session, shop.id) == 48
    finally:
        for db in engines:
            await db.dispose()


async def test_a_resume_window_ends_with_an_alert_committed_between_its_reads(
    postgres_url: str,
) -> None:
    # Under READ COMMITTED the window's two statements see different
    # snapshots. An alert committed in between must count as replayed, or a
    # resuming console would get it again live.
    reader, writer = Database(postgres_url), Database(postgres_url)
    try:
        shop = await create_shop(writer, "Window Kitchen")
        injected: list[bool] = []

        async def commit_one() -> None:
            async with writer.transaction() as session:
                await alert_log.append(
                    session,
                    shop_id=shop.id,
                    type=AlertType.NEW_ORDER,
                    order_id=None,
                    order_number="between",
                )

        @event.listens_for(reader.engine.sync_engine, "after_cursor_execute")
        def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            # Right after the window has read the shop's latest seq.
            if "alert_seq" in statement and not injected:
                injected.append(True)
                await_only(commit_one())

        async with reader.sessions() as session:
            window = await alert_log.window(
                session, shop.id, 0, max_count=100, not_before=utcnow() - timedelta(hours=1)
            )
        assert injected
        assert [a.seq for a in window.alerts] == [1]
        assert window.latest_seq == 1
        assert not window.reset
    finally:
        await reader.dispose()
        await writer.dispose()


async def test_an_alert_handled_twice_at_once_is_handed_back_to_one_transaction(
    postgres_url: str,
) -> None:
    # Two engines, as two processes would have, each marking the same open
    # alert handled with no lock taken before: only one may get it back
    # (and announce it); the other finds it already handled.
    engines = [Database(postgres_url), Database(postgres_url)]
    try:
        shop = await create_shop(engines[0], "Handled Kitchen")
        async with engines[0].transaction() as session:
            alert = await alert_log.append(
                session, shop_id=shop.id, type=AlertType.NEW_ORDER, order_id=None, order_number="n"
            )
        both = asyncio.Barrier(2)

        async def handle(i: int) -> list[int]:
            async with engines[i].transaction() as session:
                await both.wait()
                got = await alert_log.mark_handled(
                    session, shop_id=shop.id, action=f"by-{i}", by=None, seq=alert.seq
                )
                # Hold the transaction a moment, so the other one's UPDATE
                # runs while this one is still open.
                await asyncio.sleep(0.2)
                return [a.seq for a in got]

        results = await asyncio.gather(handle(0), handle(1))
        assert sorted(results) == [[], [alert.seq]]
        async with engines[0].sessions() as session:
            action = await session.scalar(
                select(AlertRow.handled_action).where(AlertRow.shop_id == shop.id)
            )
        winner = results.index([alert.seq])
        assert action == f"by-{winner}"
    finally:
        for db in engines:
            await db.dispose()


async def test_a_key_revoked_twice_at_once_is_counted_once(postgres_url: str) -> None:
    engines = [Database(postgres_url), Database(postgres_url)]
    try:
        shop = await create_shop(engines[0], "Key Kitchen")
        issued = await create_api_key(engines[0], shop.id, "pos")
        for db in engines:
            # Widen the window between a read and the write that follows it,
            # as a busy server would: a read-then-write shows here.
            @event.listens_for(db.engine.sync_engine, "after_cursor_execute")
            def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                if statement.lstrip().upper().startswith("SELECT") and "api_key" in statement:
                    await_only(asyncio.sleep(0.2))

        prefix = issued.prefix
        counts = await asyncio.gather(
            *(revoke_api_key(engines[i % 2], shop.id, prefix) for i in range(8))
        )
        assert sorted(counts) == [0] * 7 + [1]
    finally:
        for db in engines:
            await db.dispose()
