"""The push sweep and the VAPID keys with two "processes" at once (two engines) on the
real databases: every unseen alert is pushed once per subscription, and both
processes make and read the same key pair."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from orderbell.domain.alerts import AlertType
from orderbell.services import push
from orderbell.storage.database import Database
from orderbell.storage.tables import Merchant, Outgoing, utcnow
from tests.support.processes import Process
from tests.support.push_service import PushService
from tests.support.servers import new_shop


async def pushes(db: Database, shop_id: int) -> list[tuple[int, str]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(Outgoing.target_id, Outgoing.message_id).where(
                Outgoing.shop_id == shop_id, Outgoing.kind == push.PUSH
            )
        )
        return [(target, message) for target, message in rows]


async def test_concurrent_sweeps_push_each_alert_once_per_subscription(
    processes: list[Process], database_url: str
) -> None:
    one, two = processes
    kit = await new_shop(database_url)
    service = PushService()  # never started: only its subscription bodies are needed
    async with one.database.sessions() as session:
        merchant = await session.scalar(select(Merchant.id).where(Merchant.shop_id == kit.shop_id))
    assert merchant is not None
    for name in ("a", "b", "c"):
        body = service.subscription(name, name)
        await push.subscribe(
            one.database,
            merchant_id=merchant,
            shop_id=kit.shop_id,
            device_id=name,
            endpoint=body["endpoint"],
            p256dh=body["keys"]["p256dh"],
            auth=body["keys"]["auth"],
            allow_private=True,
        )
    async with one.outbox.transaction() as work:
        for n in range(7):
            await work.raise_alert(
                shop_id=kit.shop_id,
                type=AlertType.NEW_ORDER if n % 2 else AlertType.REMINDER,
                order_id=None,
                order_number=f"2026120700{n:02d}",
            )
    later = utcnow() + timedelta(seconds=11)
    counts = await asyncio.gather(
        *(
            push.sweep(
                p.database,
                after=timedelta(seconds=10),
                stale_after=timedelta(minutes=10),
                now=later,
                batch=2,
            )
            for p in (one, two, one, two)
        )
    )
    assert sum(counts) == 21, counts
    written = await pushes(one.database, kit.shop_id)
    assert len(written) == 21 and max(Counter(written).values()) == 1
    # Nothing is left, and an alert too young is not pushed.
    assert (
        await push.sweep(
            two.database, after=timedelta(seconds=10), stale_after=timedelta(minutes=10)
        )
        == 0
    )


async def test_both_processes_make_and_read_one_key_pair(processes: list[Process]) -> None:
    first, second = await asyncio.gather(*(push.ensure_keys(p.database) for p in processes))
    assert first == second
    assert await push.ensure_keys(processes[1].database) == first
