"""``orderbell serve --workers N``: N processes on one port behave as one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.e2e.server import Api, Server, free_port, new_shop
from tests.integration.cluster import (
    Console,
    all_received,
    cluster_env,
    expected,
    place_orders,
    start,
)

pytestmark = pytest.mark.e2e


async def subscribed_workers(redis_url: str, prefix: str) -> tuple[int, int]:
    """(worker processes connected to Redis, those subscribed to at least one shop)."""
    admin = aioredis.Redis.from_url(redis_url)
    try:
        subscribers = [
            c
            for c in await admin.client_list()
            if str(c.get("name", "")).startswith(f"{prefix}:sub:")
        ]
        return len(subscribers), sum(1 for c in subscribers if int(c.get("sub", 0)) > 0)
    finally:
        await admin.aclose()


async def test_workers_share_alerts_and_sweep_unpaid_orders(
    tmp_path: Path, postgres_url: str, redis_url: str, prefix: str
) -> None:
    env = cluster_env(
        postgres_url,
        redis_url,
        prefix,
        # Short enough to watch: unpaid for 3 s, looked for every 0.3 s.
        payment_timeout_minutes="0.05",
        payment_timeout_check_seconds="0.3",
    )
    # Given as an option, not in the environment: serve must pass it on to the workers.
    del env["ORDERBELL_BROKER_URL"]
    server = Server(
        free_port(),
        postgres_url,
        tmp_path / "server.log",
        env,
        extra_args=["--workers", "2", "--broker-url", redis_url],
    )
    start(server)
    api = Api(server)
    watching: list[Console] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while (await subscribed_workers(redis_url, prefix))[0] < 2 and loop.time() < deadline:
            await asyncio.sleep(0.1)
        assert (await subscribed_workers(redis_url, prefix))[0] == 2, server.log()

        kit = await new_shop(postgres_url)
        token = await api.merchant_token(kit.username)
        # The kernel hands each new connection to one worker or the other;
        # open consoles until both workers have some.
        for _ in range(30):
            watching.append(await Console([server], token).start())
            if (await subscribed_workers(redis_url, prefix))[1] == 2 and len(watching) >= 2:
                break
        assert (await subscribed_workers(redis_url, prefix))[1] == 2

        orders = await place_orders(api, kit, 12)
        for order in orders:
            await api.pay(order["token"], order["number"])
        assert await all_received(watching, 12) == [expected(12)] * len(watching)

        # An order nobody pays is cancelled by a worker's sweep, once.
        [unpaid] = await place_orders(api, kit, 1)
        status = None
        for _ in range(100):
            detail = await api.ok(
                "GET", f"/user/order/orderDetail/{unpaid['id']}", token=unpaid["token"]
            )
            status = detail["status"]
            if status == 6:
                break
            await asyncio.sleep(0.1)
        assert status == 6, "the unpaid order was not cancelled"
        refused = await api.call(
            "PUT",
            "/user/order/payment",
            token=unpaid["token"],
            json={"orderNumber": unpaid["number"]},
        )
        assert refused.json()["code"] == 0
    finally:
        for console in watching:
            await console.close()
        await api.aclose()
        server.stop()


def test_workers_need_a_shared_broker(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orderbell", "serve", "--workers", "2", "--port", str(free_port())],
        env={**cluster_env(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "memory://", "unused")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "redis://" in done.stderr
