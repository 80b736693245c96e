"""A caught-up console on a real server: what it sends is read by the live console path."""

from __future__ import annotations

import asyncio

import orjson
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e.server import Api, Server, collect, new_shop


async def test_a_live_console_answers_pings_reads_fragments_and_closes_cleanly(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    async with websockets.connect(server.ws_url(merchant, protocol="2")) as ws:
        assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
        # The console is live now: its pings, text and fragments reach the
        # live console's own reader, not the ASGI endpoint's.
        await asyncio.wait_for(await ws.ping(b"are you there"), 5)
        await ws.send(["keep", "-", "alive"])  # one message in three frames
        await ws.send("hello")
        order = await api.place_order(customer, address, [kit.dish_ids[0]])
        await api.pay(customer, order["orderNumber"])
        [alert] = await collect(ws, 1)
        assert (alert["type"], alert["orderId"]) == (1, order["id"])
        await ws.close(1000, "done")
    assert ws.close_code == 1000, "the server echoed the console's close"


async def test_a_live_console_that_breaks_the_protocol_is_closed(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    async with websockets.connect(server.ws_url(merchant, protocol="2")) as ws:
        await collect(ws, 2)
        await ws.send(orjson.dumps({"binary": True}))  # bytes: a binary frame
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1003
