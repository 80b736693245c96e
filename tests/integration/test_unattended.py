"""Two server processes on PostgreSQL and Redis decide a shop's pause as one: a
console on one process keeps the shop open for submits through the other; when
that process dies without a goodbye, the other pauses the shop once."""

from __future__ import annotations

import asyncio
import signal

import pytest
import websockets
from sqlalchemy import func, select

from orderbell.domain.shop_status import NO_CONSOLE_ONLINE, PAUSED_MESSAGE
from orderbell.storage.database import Database
from orderbell.storage.tables import ShopStatusChange
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, new_shop

PAUSE = 2.0
HEARTBEAT_TIMEOUT = 1.0


@pytest.fixture
def pair_settings() -> dict[str, str]:
    return {
        "unattended_pause_seconds": str(PAUSE),
        "unattended_check_seconds": "0.5",
        "heartbeat_seconds": "1",
        "heartbeat_timeout_seconds": str(HEARTBEAT_TIMEOUT),
    }


@pytest.mark.e2e
async def test_a_console_on_one_process_keeps_the_shop_open_until_that_process_dies(
    pair: list[Server], apis: list[Api]
) -> None:
    a = pair[0]
    kit = await new_shop(a.database_url)
    merchant = await apis[0].merchant_token(kit.username)
    customer, address = await apis[1].new_customer()
    async with websockets.connect(a.ws_url(merchant, sid="front-desk", protocol="2")) as console:
        await console.recv()
        # Well past the grace and the pause on both processes: B counts A's console.
        unheard = await new_shop(a.database_url, "Unheard Kitchen")

        async def paused(shop_id: int) -> bool:
            return await apis[1].ok("GET", f"/user/shop/status?shopId={shop_id}") == 0

        await wait_until(lambda: paused(unheard.shop_id), 30, interval=0.2, what="a pause")
        assert not await paused(kit.shop_id), "the shop with a console on A stays open"
        await apis[1].ok(
            "POST", "/user/shoppingCart/add", token=customer, json={"dishId": kit.dish_ids[0]}
        )
        order = await apis[1].ok(
            "POST", "/user/order/submit", token=customer, json={"addressBookId": address}
        )
        assert order["orderNumber"]

        # A dies without a goodbye: its device lingers at most two heartbeat
        # timeouts, then B finds the shop unheard and pauses it after PAUSE.
        a.stop(signal.SIGKILL)
        killed = asyncio.get_running_loop().time()
        await wait_until(lambda: paused(kit.shop_id), 30, interval=0.2, what="B's pause")
        took = asyncio.get_running_loop().time() - killed
        assert took >= PAUSE, took

    await apis[1].ok(
        "POST", "/user/shoppingCart/add", token=customer, json={"dishId": kit.dish_ids[0]}
    )
    refused = await apis[1].call(
        "POST", "/user/order/submit", token=customer, json={"addressBookId": address}
    )
    assert (refused.status_code, refused.json()["msg"]) == (400, PAUSED_MESSAGE)

    database = Database(a.database_url)
    try:
        async with database.sessions() as session:
            pauses = await session.scalar(
                select(func.count()).where(
                    ShopStatusChange.shop_id == kit.shop_id,
                    ShopStatusChange.reason == NO_CONSOLE_ONLINE,
                )
            )
        assert pauses == 1
    finally:
        await database.dispose()


@pytest.mark.e2e
async def test_many_shops_paused_by_two_processes_are_each_recorded_once(
    pair: list[Server], apis: list[Api]
) -> None:
    shops = [await new_shop(pair[0].database_url, f"Quiet {i}") for i in range(10)]

    async def all_paused() -> bool:
        codes = await asyncio.gather(
            *(
                apis[i % 2].ok("GET", f"/user/shop/status?shopId={s.shop_id}")
                for i, s in enumerate(shops)
            )
        )
        return all(code == 0 for code in codes)

    await wait_until(all_paused, 30, interval=0.2, what="every quiet shop paused")
    # A few more sweeps of both processes (an absence, so a bounded wait): still
    # one record per shop.
    await asyncio.sleep(1.5)
    database = Database(pair[0].database_url)
    try:
        async with database.sessions() as session:
            rows = await session.execute(
                select(ShopStatusChange.shop_id, func.count())
                .where(ShopStatusChange.shop_id.in_([s.shop_id for s in shops]))
                .group_by(ShopStatusChange.shop_id)
            )
            counts = {shop_id: count for shop_id, count in rows}
        assert counts == {s.shop_id: 1 for s in shops}
    finally:
        await database.dispose()
