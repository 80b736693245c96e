"""Which shops a printer hears for the pause of unheard shops, on a real SQLite
database: only with auto-accept on and a printer heard recently that prints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from orderbell.broker.memory import MemoryBroker
from orderbell.services.accounts import create_shop
from orderbell.services.outbox import Outbox
from orderbell.services.printing import printers
from orderbell.services.printing.auto_accept import set_auto_accept
from orderbell.services.printing.part import Printing
from orderbell.services.printing.sender import EscposSender
from orderbell.services.unattended import heard_by_any
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from orderbell.storage.tables import Printer, utcnow


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'printers.db'}"
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url)
    yield db
    await db.dispose()


async def _heard(db: Database, printer_id: int, ago: float, status: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Printer)
            .where(Printer.id == printer_id)
            .values(last_heard_at=utcnow() - timedelta(seconds=ago), status=status)
        )


async def test_a_printer_online_hears_a_shop_only_with_auto_accept(database: Database) -> None:
    from zoneinfo import ZoneInfo

    outbox = Outbox(database, MemoryBroker())
    printing = Printing(
        outbox,
        EscposSender(database, zone=ZoneInfo("Asia/Shanghai")),
        check_interval=0,
        offline_after=60,
    )
    shop = (await create_shop(database, "a")).id
    other = (await create_shop(database, "b")).id
    added = await printers.add(database, shop_id=shop, kind="escpos-tcp", address="10.0.0.9:9100")
    await _heard(database, added.printer.id, 5, printers.ONLINE)
    assert await printing.listening([shop, other]) == set()
    await set_auto_accept(database, shop, True)
    assert await printing.listening([shop, other]) == {shop}
    await _heard(database, added.printer.id, 5, printers.PAPER_OUT)
    assert await printing.listening([shop]) == set()
    await _heard(database, added.printer.id, 120, printers.ONLINE)
    assert await printing.listening([shop]) == set()

    asked: list[list[int]] = []

    async def consoles(ids: Sequence[int]) -> set[int]:
        asked.append(list(ids))
        return {other} & set(ids)

    async def paper(ids: Sequence[int]) -> set[int]:
        asked.append(list(ids))
        return {shop} & set(ids)

    assert await heard_by_any(consoles, paper)([shop, other]) == {shop, other}
    assert asked == [[shop, other], [shop]]
