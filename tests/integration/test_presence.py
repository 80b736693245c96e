"""Presence across real server processes on PostgreSQL and Redis, and what it costs Redis."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import websockets

from orderbell.broker.memory import MemoryBroker
from orderbell.delivery.presence import create_presence
from orderbell.delivery.presence.registry import Presence
from tests.integration.services import PrivateRedis
from tests.support.frames import collect
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, new_shop

pytestmark = pytest.mark.e2e

HEARTBEAT_TIMEOUT = 2.0


@pytest.fixture
def pair_settings() -> dict[str, str]:
    return {
        "heartbeat_seconds": "0.5",
        "heartbeat_timeout_seconds": str(HEARTBEAT_TIMEOUT),
        "presence_debounce_seconds": "0.2",
    }


@pytest.fixture
async def reader(redis_url: str, prefix: str) -> AsyncIterator[Presence]:
    """The Python interface, reading the servers' devices from the same Redis."""
    presence = create_presence(redis_url, MemoryBroker(), prefix=prefix)
    await presence.store.start()
    yield presence
    await presence.store.close([])


@contextlib.asynccontextmanager
async def console(server: Server, token: str, device_id: str) -> AsyncIterator[Any]:
    async with websockets.connect(server.ws_url(token, device_id, protocol="2", kind="sdk")) as ws:
        assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
        yield ws


async def listed(api: Api, token: str) -> set[str]:
    data = await api.ok("GET", "/admin/shop/devices", token=token, header="token")
    return {d["deviceId"] for d in data}


async def test_devices_of_both_processes_are_listed_from_either_and_vanish_with_a_killed_one(
    pair: list[Server], reader: Presence
) -> None:
    a, b = pair
    apis = [Api(a), Api(b)]
    try:
        one, two = await new_shop(a.database_url), await new_shop(a.database_url)
        t1 = await apis[0].merchant_token(one.username)
        t2 = await apis[1].merchant_token(two.username)
        async with contextlib.AsyncExitStack() as stack:
            for server, token, device_id in (
                (a, t1, "one-a"),
                (b, t1, "one-b"),
                (b, t1, "one-b2"),
                (a, t2, "two-a"),
            ):
                await stack.enter_async_context(console(server, token, device_id))
            for api in apis:
                await wait_until(
                    lambda api=api: _equals(listed(api, t1), {"one-a", "one-b", "one-b2"}),
                    what="shop one's devices on both processes",
                )
            assert await reader.online([one.shop_id, two.shop_id, 999_999]) == {
                one.shop_id: 3,
                two.shop_id: 1,
                999_999: 0,
            }

            killed_at = time.monotonic()
            b.stop(signal.SIGKILL)
            # Every look that starts two heartbeat timeouts after the kill
            # must find the devices gone (a look takes time of its own).
            deadline = killed_at + 2 * HEARTBEAT_TIMEOUT
            while True:
                started = time.monotonic()
                found = await listed(apis[0], t1)
                if found == {"one-a"}:
                    break
                assert started < deadline, f"still listed {started - killed_at:.2f}s after: {found}"
                await asyncio.sleep(0.05)
            assert await reader.online([one.shop_id, two.shop_id]) == {
                one.shop_id: 1,
                two.shop_id: 1,
            }
    finally:
        for api in apis:
            await api.aclose()


async def _equals(found: Any, want: set[str]) -> bool:
    return bool(await found == want)


async def test_a_clean_shutdown_removes_the_process_devices_at_once(
    pair: list[Server], reader: Presence
) -> None:
    a, b = pair
    api = Api(a)
    try:
        kit = await new_shop(a.database_url)
        token = await api.merchant_token(kit.username)
        async with console(a, token, "stays"), console(b, token, "goes"):
            await wait_until(lambda: _equals(listed(api, token), {"stays", "goes"}))
            b.stop(signal.SIGTERM)
            # Stopped: no heartbeat timeout to wait for, the devices are gone now.
            assert await reader.online([kit.shop_id]) == {kit.shop_id: 1}
    finally:
        await api.aclose()


async def _command_calls(redis: aioredis.Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def test_a_heartbeat_round_is_one_pipeline_for_all_consoles(own_redis: PrivateRedis) -> None:
    presence = create_presence(own_redis.url, MemoryBroker(), prefix="round", ttl=5)
    admin = aioredis.Redis.from_url(own_redis.url)
    try:
        await presence.store.start()
        for n in range(600):
            await presence.arrive(n % 3 + 1, f"device-{n}", "browser", 7)
        await presence.refresh()
        await admin.config_resetstat()
        clients_before = int((await admin.info("stats"))["total_connections_received"])
        await presence.refresh()
        calls = await _command_calls(admin)
        # One SET of the liveness key and one HSET per shop (three shops),
        # for 600 consoles, on the connection already open.
        assert {k: v for k, v in calls.items() if k not in ("info", "config|resetstat")} == {
            "set": 1,
            "hset": 3,
        }
        assert int((await admin.info("stats"))["total_connections_received"]) == clients_before
        assert await presence.online([1, 2, 3]) == {1: 200, 2: 200, 3: 200}
        assert presence.rounds == 2
    finally:
        await presence.close()
        await admin.aclose()
