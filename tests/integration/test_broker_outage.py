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

import pytest
from sqlalchemy import select

from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow
from tests.e2e.server import Api, Server, new_shop, running_server
from tests.integration.cluster import Console, place_orders
from tests.integration.services import PrivateRedis

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
