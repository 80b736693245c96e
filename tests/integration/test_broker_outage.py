"""A Redis outage as a paying customer and an operator see it: payments answer
at once, the server says once that Redis went away, counts what waits now and
then, says once that it is back, and the relay delivers what waited."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from orderbell.broker.redis import RedisBroker
from orderbell.domain.alerts import AlertType
from orderbell.services.outbox import Outbox
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from orderbell.storage.tables import AlertRow
from tests.e2e.server import Api, Server, new_shop, running_server
from tests.integration.cluster import Console, place_orders
from tests.integration.services import PrivateRedis, in_thread

pytestmark = pytest.mark.e2e

TIMEOUT = 2.0  # the broker timeout: a payment that waited for it would take this long
# A payment's budget: well under the broker timeout, generous for a shared machine.
FAST = 1.0

DOWN = "the broker is unreachable"
STILL = re.compile(r"the broker is still unreachable after \d+ s: (\d+) alerts wait for the relay")
BACK = re.compile(r"the broker is back after \d+ s; the relay published (\d+) alerts")


@contextmanager
def server_on(tmp_path: Path, redis: PrivateRedis) -> Iterator[Server]:
    with running_server(
        tmp_path,
        broker_url=redis.url,
        broker_channel_prefix="outage",
        broker_timeout_seconds=str(TIMEOUT),
        broker_health_check_seconds="0.5",
        broker_reconnect_max_seconds="0.5",
        relay_interval_seconds="0.3",
        broker_outage_report_seconds="1",
        log_level="warning",
    ) as server:
        yield server


async def wait_for_line(server: Server, pattern: str | re.Pattern[str], within: float) -> str:
    """The whole server log, once a line matches ``pattern`` (or the test fails)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        text = server.log_path.read_text(errors="replace")
        if re.search(pattern, text):
            return text
        assert loop.time() < deadline, f"no line like {pattern!r} in:\n{text[-3000:]}"
        await asyncio.sleep(0.05)


async def pay_timed(api: Api, order: dict[str, object]) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await api.pay(str(order["token"]), str(order["number"]))
    return loop.time() - started


async def unpublished(database_url: str, shop_id: int) -> list[int]:
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            rows = await session.scalars(
                select(AlertRow.seq).where(
                    AlertRow.shop_id == shop_id, AlertRow.published_at.is_(None)
                )
            )
            return sorted(int(s) for s in rows)
    finally:
        await db.dispose()


async def test_a_silent_redis_delays_no_payment_and_its_outage_is_logged_once(
    tmp_path: Path, own_redis: PrivateRedis
) -> None:
    with server_on(tmp_path, own_redis) as server:
        api = Api(server)
        kit = await new_shop(server.database_url)
        console = await Console([server], await api.merchant_token(kit.username)).start()
        orders = await place_orders(api, kit, 5)
        paused = False
        try:
            await pay_timed(api, orders[0])
            assert await console.wait_for(1, settle=0) == [1]

            # Redis stops answering but keeps its connections open.
            assert own_redis.process is not None
            own_redis.process.send_signal(signal.SIGSTOP)
            paused = True
            times = [await pay_timed(api, order) for order in orders[1:3]]
            assert max(times) < FAST, f"payments waited for the broker: {times}"
            text = await wait_for_line(server, DOWN, within=3 * TIMEOUT)
            # Known down: the next payments do not even try.
            times += [await pay_timed(api, order) for order in orders[3:]]
            assert max(times) < FAST, f"payments waited for the broker: {times}"
            text = await wait_for_line(server, STILL, within=5)
            assert await unpublished(server.database_url, kit.shop_id) == [2, 3, 4, 5]

            own_redis.process.send_signal(signal.SIGCONT)
            paused = False
            text = await wait_for_line(server, BACK, within=15)
            assert await console.wait_for(5, within=10, settle=0.3) == [1, 2, 3, 4, 5]
            assert await unpublished(server.database_url, kit.shop_id) == []
        finally:
            if paused and own_redis.process is not None:
                own_redis.process.send_signal(signal.SIGCONT)
            await console.close()
            await api.aclose()

    text = server.log_path.read_text(errors="replace")
    assert text.count(DOWN) == 1, text
    counts = [int(n) for n in STILL.findall(text)]
    assert counts and counts[-1] == 4, text
    [relayed] = BACK.findall(text)
    assert int(relayed) == 4, text
    # No line per payment.
    assert "publishing alert" not in text and "publishing a notice" not in text, text


async def test_a_refused_redis_answers_fast_and_the_outage_is_logged_once(
    tmp_path: Path, own_redis: PrivateRedis
) -> None:
    with server_on(tmp_path, own_redis) as server:
        api = Api(server)
        kit = await new_shop(server.database_url)
        console = await Console([server], await api.merchant_token(kit.username)).start()
        orders = await place_orders(api, kit, 4)
        try:
            await pay_timed(api, orders[0])
            assert await console.wait_for(1, settle=0) == [1]

            own_redis.kill()  # connections refused from now on
            times = [await pay_timed(api, order) for order in orders[1:]]
            assert max(times) < FAST, f"payments waited for the broker: {times}"
            await wait_for_line(server, DOWN, within=5)

            own_redis.start()
            await wait_for_line(server, BACK, within=15)
            assert await console.wait_for(4, within=10, settle=0.3) == [1, 2, 3, 4]
        finally:
            await console.close()
            await api.aclose()

    text = server.log_path.read_text(errors="replace")
    assert text.count(DOWN) == 1, text
    assert len(BACK.findall(text)) == 1, text
    assert "publishing alert" not in text, text
    # The listener's attempts to reconnect: the first one said, the rest not.
    assert text.count("reconnecting in") == 1, text


# -- the outbox in this process, on a Redis of its own --------------------------


async def raise_alert(outbox: Outbox, shop_id: int, number: int) -> float:
    """Commit one alert; returns how long the transaction took, publishing included."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with outbox.transaction() as work:
        await work.raise_alert(
            shop_id=shop_id,
            type=AlertType.NEW_ORDER,
            order_id=None,
            order_number=f"N{number}",
            source="api",
        )
    return loop.time() - started


def publishers() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "orderbell-publisher"]


async def test_background_publishing_is_bounded_and_loses_nothing_on_shutdown(
    tmp_path: Path, own_redis: PrivateRedis, prefix: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    in_thread(upgrade_database, url)
    kit = await new_shop(url)
    database = Database(url)
    # Health checks far apart: the listener does not notice the pause by itself.
    broker = RedisBroker(own_redis.url, channel_prefix=prefix, health_check_interval=30, timeout=1)
    await broker.connect()
    assert own_redis.process is not None
    listener: RedisBroker | None = None
    try:
        own_redis.process.send_signal(signal.SIGSTOP)

        # Shutdown while an alert waits for a silent Redis: stop() waits a
        # while, then leaves it unpublished in the log.
        first = Outbox(database, broker, relay_interval=60, drain_timeout=0.3)
        assert await raise_alert(first, kit.shop_id, 1) < 0.5
        loop = asyncio.get_running_loop()
        started = loop.time()
        await first.stop()
        assert loop.time() - started < 0.3 + 0.5
        assert publishers() == []
        assert await unpublished(url, kit.shop_id) == [1]

        # A burst while the broker hangs: one publisher, a backlog of at most
        # two, the rest left to the relay at once; once known down, not tried.
        second = Outbox(database, broker, relay_interval=60, backlog=2, drain_timeout=0.3)
        times = [await raise_alert(second, kit.shop_id, n) for n in range(2, 8)]
        assert max(times) < 0.5, times
        assert len(publishers()) == 1
        assert second.left_to_relay >= 6 - 1 - 2
        while not second.outage.down:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        assert second.left_to_relay == 6  # the batch in flight and the backlog
        assert max([await raise_alert(second, kit.shop_id, n) for n in (8, 9)]) < 0.05
        assert second.left_to_relay == 8 and publishers() == []
        await second.stop()
        assert await unpublished(url, kit.shop_id) == list(range(1, 10))

        # Back: the relay of the next start publishes every one, in order.
        own_redis.process.send_signal(signal.SIGCONT)
        listener = RedisBroker(own_redis.url, channel_prefix=prefix, timeout=1)
        heard: list[int] = []
        listener.attach(lambda _shop, payload: heard.append(int(orjson.loads(payload)["seq"])))
        await listener.connect()
        await listener.subscribe(kit.shop_id)
        third = Outbox(database, broker, relay_interval=60, relay_grace=0)
        await third.start()
        await third.stop()
        deadline = loop.time() + 5
        while len(heard) < 9 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert heard == list(range(1, 10))
        assert await unpublished(url, kit.shop_id) == []
    finally:
        if own_redis.process is not None:
            own_redis.process.send_signal(signal.SIGCONT)
        if listener is not None:
            await listener.disconnect()
        await broker.disconnect()
        await database.dispose()
