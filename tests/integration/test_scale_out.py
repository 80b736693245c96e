"""Several real server processes on one PostgreSQL and one Redis behave as one."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from orderbell.broker.redis import channel_name
from orderbell.storage.database import Database
from tests.integration.services import PrivateRedis, drop_redis_clients
from tests.support.cluster import all_received, cluster, consoles, expected, report
from tests.support.consoles import Console
from tests.support.orders import logged_seqs, place_many, place_orders
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, new_shop

pytestmark = pytest.mark.e2e


async def pay_in_turn(apis: list[Api], orders: list[dict[str, str]], pace: float = 0.0) -> None:
    for i, order in enumerate(orders):
        await apis[i % len(apis)].pay(order["token"], order["number"])
        if pace:
            await asyncio.sleep(pace)


async def test_alerts_raised_on_either_process_reach_consoles_on_both(
    pair: list[Server], apis: list[Api]
) -> None:
    a, b = pair
    one, two = await new_shop(a.database_url), await new_shop(a.database_url)
    t1, t2 = await apis[0].merchant_token(one.username), await apis[1].merchant_token(two.username)
    async with consoles(
        Console([a], t1), Console([b], t1), Console([b], t1), Console([a], t2), Console([b], t2)
    ) as (one_a, one_b, one_b2, two_a, two_b):
        orders_one = await place_orders(apis[0], one, 10)
        orders_two = await place_orders(apis[1], two, 6)
        # Shop one's orders paid on A and B in turn, shop two's the other way round.
        await asyncio.gather(pay_in_turn(apis, orders_one), pay_in_turn(apis[::-1], orders_two))

        assert await all_received([one_a, one_b, one_b2], 10) == [expected(10)] * 3, report(
            [one_a, one_b, one_b2], 10, pair
        )
        assert await all_received([two_a, two_b], 6) == [expected(6)] * 2, report(
            [two_a, two_b], 6, pair
        )
        for console in (one_a, one_b, one_b2):
            assert [f["orderId"] for f in console.frames] == [o["id"] for o in orders_one]
            assert {f["shopId"] for f in console.frames} == {one.shop_id}
        for console in (two_a, two_b):
            assert [f["orderId"] for f in console.frames] == [o["id"] for o in orders_two]
            assert {f["shopId"] for f in console.frames} == {two.shop_id}
        # Everything came live, over the broker: no console had to reconnect.
        assert all(len(c.connections) == 1 for c in (one_a, one_b, one_b2, two_a, two_b))


async def test_two_hundred_orders_of_one_shop_paid_at_once_on_two_processes(
    pair: list[Server], apis: list[Api]
) -> None:
    a, b = pair
    kit = await new_shop(a.database_url)
    token = await apis[0].merchant_token(kit.username)
    orders = await place_many(apis, kit, 200, customers=4)
    async with consoles(Console([a], token), Console([b], token)) as watching:
        results = await asyncio.gather(
            *(apis[i % 2].pay(o["token"], o["number"]) for i, o in enumerate(orders)),
            return_exceptions=True,
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert await logged_seqs(a.database_url, kit.shop_id) == expected(200)
        assert await all_received(watching, 200) == [expected(200)] * 2, report(watching, 200, pair)
        for console in watching:
            assert sorted(f["orderId"] for f in console.frames) == sorted(o["id"] for o in orders)


async def test_redis_connections_dropped_mid_stream_lose_and_repeat_nothing(
    pair: list[Server], apis: list[Api], redis_url: str, prefix: str
) -> None:
    a, b = pair
    kit = await new_shop(a.database_url)
    token = await apis[0].merchant_token(kit.username)
    orders = await place_orders(apis[0], kit, 40)
    async with consoles(Console([a], token), Console([b], token), Console([b], token)) as watching:
        stream = asyncio.create_task(pay_in_turn(apis, orders, pace=0.03))
        dropped = 0
        for received in (8, 16, 24):
            # Mid-stream: once the consoles have had that many alerts.
            await wait_until(lambda n=received: len(watching[0].seqs) >= n, what=f"{received}")
            # Both processes' subscriber and publisher connections, as if Redis restarted.
            dropped += await drop_redis_clients(redis_url, prefix)
        await stream
        assert dropped >= 6
        assert await logged_seqs(a.database_url, kit.shop_id) == expected(40)
        assert await all_received(watching, 40) == [expected(40)] * 3, report(watching, 40, pair)
        # The hubs recovered by themselves; the consoles never reconnected.
        assert [len(c.connections) for c in watching] == [1, 1, 1]


async def test_redis_down_for_a_while_mid_stream_then_back(
    tmp_path: Path, postgres_url: str, own_redis: PrivateRedis, prefix: str
) -> None:
    with cluster(
        tmp_path, database_url=postgres_url, broker_url=own_redis.url, prefix=prefix
    ) as servers:
        apis = [Api(s) for s in servers]
        try:
            kit = await new_shop(postgres_url)
            token = await apis[0].merchant_token(kit.username)
            orders = await place_orders(apis[0], kit, 30)
            async with consoles(*(Console([s], token) for s in servers * 2)) as watching:
                await pay_in_turn(apis, orders[:10])
                own_redis.kill()
                # Payments go on while Redis is gone: committed, not yet delivered.
                await pay_in_turn(apis, orders[10:20], pace=0.05)
                assert await logged_seqs(postgres_url, kit.shop_id) == expected(20)

                async def both_see_redis_gone() -> bool:
                    answers = [await api.http.get("/readyz") for api in apis]
                    return all(r.status_code == 503 for r in answers)

                await wait_until(both_see_redis_gone, what="the processes to notice")
                own_redis.start()
                await pay_in_turn(apis, orders[20:])
                assert await all_received(watching, 30) == [expected(30)] * 4, report(
                    watching, 30, servers
                )
                assert [len(c.connections) for c in watching] == [1, 1, 1, 1]
        finally:
            for api in apis:
                await api.aclose()


async def test_a_process_killed_mid_stream_its_consoles_resume_on_the_other(
    pair: list[Server], apis: list[Api]
) -> None:
    a, b = pair
    kit = await new_shop(a.database_url)
    token = await apis[0].merchant_token(kit.username)
    orders = await place_orders(apis[1], kit, 40)
    async with consoles(
        Console([a, b], token, failover=True),
        Console([a, b], token, failover=True),
        Console([b, a], token, failover=True),
    ) as watching:

        async def pay_all() -> None:
            for i, order in enumerate(orders):
                try:
                    await apis[i % 2].pay(order["token"], order["number"])
                except Exception:
                    # A is gone; paying is idempotent, so B takes the retry.
                    await apis[1].pay(order["token"], order["number"])
                await asyncio.sleep(0.02)

        stream = asyncio.create_task(pay_all())
        # Mid-stream: once some alerts have reached every console.
        await wait_until(lambda: all(len(c.seqs) >= 8 for c in watching), what="8 alerts each")
        a.stop(signal.SIGKILL)
        await stream
        assert await logged_seqs(b.database_url, kit.shop_id) == expected(40)
        assert await all_received(watching, 40) == [expected(40)] * 3, report(watching, 40, pair)
        # The consoles that were on A moved to B.
        assert [c.connections[-1] for c in watching] == [b.port] * 3
        assert all(len(c.connections) == 2 for c in watching[:2])


async def test_duplicate_publishes_reach_no_console_twice(
    pair: list[Server], apis: list[Api], redis_url: str, prefix: str
) -> None:
    a, b = pair
    kit = await new_shop(a.database_url)
    token = await apis[0].merchant_token(kit.username)
    orders = await place_orders(apis[0], kit, 6)
    async with consoles(Console([a], token), Console([b], token)) as watching:
        await pay_in_turn(apis, orders[:4])
        assert await all_received(watching, 4) == [expected(4)] * 2, report(watching, 4, pair)

        # 1. As if a process died after publishing but before marking the
        #    alerts published: the relay of some process publishes them again.
        db = Database(a.database_url)
        try:
            async with db.transaction() as session:
                await session.execute(
                    text(
                        "UPDATE alert SET published_at = NULL, "
                        "created_at = created_at - interval '1 minute' "
                        "WHERE shop_id = :shop AND seq IN (2, 3)"
                    ),
                    {"shop": kit.shop_id},
                )

            async def all_published() -> bool:
                async with db.sessions() as session:
                    left = await session.scalar(
                        text(
                            "SELECT count(*) FROM alert WHERE shop_id = :shop AND published_at IS NULL"
                        ),
                        {"shop": kit.shop_id},
                    )
                return left == 0

            await wait_until(all_published, interval=0.1, what="the relay to publish them again")
        finally:
            await db.dispose()

        # 2. The same frame published twice straight to the shop's channel.
        client = aioredis.Redis.from_url(redis_url)
        try:
            frame = watching[0].frames[0]
            receivers = await client.publish(channel_name(prefix, kit.shop_id), orjson.dumps(frame))
            assert receivers == 2  # both processes are subscribed
        finally:
            await client.aclose()

        await pay_in_turn(apis, orders[4:])
        assert await all_received(watching, 6) == [expected(6)] * 2, report(watching, 6, pair)
