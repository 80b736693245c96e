"""End to end: a merchant closes and opens the shop (营业中 / 打烊) on a real server; a
closed shop refuses orders and writes nothing, the status reads as the original's
integer, its details and history say who changed it and when, and consoles hear of it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import websockets

from orderbell.broker.memory import MemoryBroker
from orderbell.domain.shop_status import CLOSED_MESSAGE, PAUSED_MESSAGE
from orderbell.services import shop_status
from orderbell.services.outbox import Outbox
from orderbell.storage.database import Database
from tests.support.servers import Api, Server, new_shop


async def set_status(api: Api, merchant: str, status: int) -> None:
    await api.ok("PUT", f"/admin/shop/{status}", token=merchant, header="token")


async def next_of_type(ws: Any, kind: str, within: float = 15) -> dict[str, Any]:
    """The next frame of ``kind``, skipping the others (hello, synced, ping)."""
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = orjson.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_closed_shop_refuses_orders_and_writes_nothing_then_opens_again(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    assert await api.ok("GET", f"/user/shop/status?shopId={kit.shop_id}") == 1

    await set_status(api, merchant, 0)
    assert await api.ok("GET", f"/user/shop/status?shopId={kit.shop_id}") == 0
    await api.ok("POST", "/user/shoppingCart/add", token=customer, json={"dishId": kit.dish_ids[0]})
    refused = await api.call(
        "POST", "/user/order/submit", token=customer, json={"addressBookId": address}
    )
    body = refused.json()
    assert refused.status_code == 400, body
    assert body["code"] == 0 and body["msg"] == CLOSED_MESSAGE
    assert "店铺已打烊" in body["msg"]
    assert body["data"]["status"] == "closed" and body["data"]["takingOrders"] is False
    page = await api.ok("GET", "/user/order/historyOrders?pageSize=100", token=customer)
    assert page["records"] == [], "no order was written"
    cart = await api.ok("GET", "/user/shoppingCart/list", token=customer)
    assert [(line["dishId"], line["number"]) for line in cart] == [(kit.dish_ids[0], 1)]

    # The menu still answers, and says the shop is closed.
    dishes = await api.call("GET", f"/user/dish/list?shopId={kit.shop_id}")
    assert dishes.status_code == 200 and dishes.json()["code"] == 1
    assert len(dishes.json()["data"]) == 2
    assert dishes.json()["msg"] == CLOSED_MESSAGE
    assert dishes.headers["Shop-Status"] == "closed"
    shops = {s["id"]: s for s in await api.ok("GET", "/user/shop/list")}
    assert (shops[kit.shop_id]["shopStatus"], shops[kit.shop_id]["status"]) == (0, "closed")
    assert shops[kit.shop_id]["takingOrders"] is False

    await set_status(api, merchant, 1)
    order = await api.ok(
        "POST", "/user/order/submit", token=customer, json={"addressBookId": address}
    )
    assert order["orderNumber"]
    assert await api.ok("GET", "/user/shoppingCart/list", token=customer) == []
    dishes = await api.call("GET", f"/user/dish/list?shopId={kit.shop_id}")
    assert dishes.json()["msg"] is None and dishes.headers["Shop-Status"] == "open"


async def test_status_reads_as_an_int_and_details_and_history_say_who_and_when(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    started = datetime.now(UTC) - timedelta(seconds=5)

    status = await api.ok("GET", "/admin/shop/status", token=merchant, header="token")
    assert status == 1 and type(status) is int
    assert await api.ok("GET", "/admin/shop/status/history", token=merchant, header="token") == []

    await set_status(api, merchant, 0)
    status = await api.ok("GET", "/admin/shop/status", token=merchant, header="token")
    assert status == 0 and type(status) is int
    detail = await api.ok("GET", "/admin/shop/status/detail", token=merchant, header="token")
    assert detail["status"] == "closed" and detail["takingOrders"] is False
    assert detail["shopId"] == kit.shop_id and detail["reason"] == "by_hand"
    assert when(detail["since"]) >= started

    await set_status(api, merchant, 0)  # already closed: nothing to record
    await set_status(api, merchant, 1)
    history = await api.ok("GET", "/admin/shop/status/history", token=merchant, header="token")
    assert [(h["from"], h["to"]) for h in history] == [("closed", "open"), ("open", "closed")]
    for entry in history:
        assert entry["shopId"] == kit.shop_id
        assert entry["by"] == {"kind": "merchant", "id": entry["by"]["id"], "name": kit.username}
        assert isinstance(entry["by"]["id"], int)
        assert started <= when(entry["at"]) <= datetime.now(UTC) + timedelta(seconds=5)
    assert when(history[0]["at"]) >= when(history[1]["at"])
    detail = await api.ok("GET", "/admin/shop/status/detail", token=merchant, header="token")
    assert detail["status"] == "open" and detail["since"] == history[0]["at"]


@pytest.mark.parametrize("bad", ["2", "-1", "x", "true", "1.0", "01x"])
async def test_a_bad_status_is_refused_in_the_envelope(server: Server, api: Api, bad: str) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    response = await api.call("PUT", f"/admin/shop/{bad}", token=merchant, header="token")
    body = response.json()
    assert response.status_code in (400, 422), body
    assert set(body) == {"code", "msg", "data"} and body["code"] == 0 and body["msg"]
    assert await api.ok("GET", "/admin/shop/status", token=merchant, header="token") == 1
    history = await api.ok("GET", "/admin/shop/status/history", token=merchant, header="token")
    assert history == []


async def test_unknown_shop_and_missing_shop_id_are_refused(server: Server, api: Api) -> None:
    unknown = await api.call("GET", "/user/shop/status?shopId=2147483000")
    assert (unknown.status_code, unknown.json()["code"]) == (404, 0)
    missing = await api.call("GET", "/user/shop/status")
    assert (missing.status_code, missing.json()["code"]) == (422, 0)


async def test_the_shops_protocol_2_consoles_get_a_shop_status_frame(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    other = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    stranger = await api.merchant_token(other.username)
    async with (
        websockets.connect(server.ws_url(merchant, protocol="2")) as ws,
        websockets.connect(server.ws_url(stranger, protocol="2")) as elsewhere,
    ):
        await next_of_type(ws, "synced")
        await next_of_type(elsewhere, "synced")
        await set_status(api, merchant, 0)
        frame = await next_of_type(ws, "shopStatus")
        assert frame == {
            "type": "shopStatus",
            "shopId": kit.shop_id,
            "status": "closed",
            "takingOrders": False,
            "reason": "by_hand",
            "since": frame["since"],
        }
        detail = await api.ok("GET", "/admin/shop/status/detail", token=merchant, header="token")
        assert frame["since"] == detail["since"]
        await set_status(api, merchant, 1)
        frame = await next_of_type(ws, "shopStatus")
        assert (frame["status"], frame["takingOrders"]) == ("open", True)
        # Another shop's console hears nothing of it (its own change comes first).
        await set_status(api, stranger, 0)
        own = await next_of_type(elsewhere, "shopStatus")
        assert own["shopId"] == other.shop_id


async def test_a_paused_shop_answers_0_refuses_orders_and_a_merchant_opens_it(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    await api.ok("POST", "/user/shoppingCart/add", token=customer, json={"dishId": kit.dish_ids[1]})
    database = Database(server.database_url)
    try:
        # What the coming pause sweep does, from any process on the same database.
        assert await shop_status.pause(Outbox(database, MemoryBroker()), kit.shop_id, "test_pause")
    finally:
        await database.dispose()

    assert await api.ok("GET", f"/user/shop/status?shopId={kit.shop_id}") == 0
    assert await api.ok("GET", "/admin/shop/status", token=merchant, header="token") == 0
    detail = await api.ok("GET", "/admin/shop/status/detail", token=merchant, header="token")
    assert (detail["status"], detail["reason"], detail["takingOrders"]) == (
        "paused",
        "test_pause",
        False,
    )
    refused = await api.call(
        "POST", "/user/order/submit", token=customer, json={"addressBookId": address}
    )
    assert (refused.status_code, refused.json()["msg"]) == (400, PAUSED_MESSAGE)
    assert refused.json()["data"]["status"] == "paused"
    dishes = await api.call("GET", f"/user/dish/list?shopId={kit.shop_id}")
    assert (dishes.json()["msg"], dishes.headers["Shop-Status"]) == (PAUSED_MESSAGE, "paused")

    await set_status(api, merchant, 1)
    await api.ok("POST", "/user/order/submit", token=customer, json={"addressBookId": address})
    history = await api.ok("GET", "/admin/shop/status/history", token=merchant, header="token")
    assert [(h["from"], h["to"], h["reason"], h["by"]["kind"]) for h in history] == [
        ("paused", "open", "by_hand", "merchant"),
        ("open", "paused", "test_pause", "system"),
    ]
    assert history[1]["by"] == {"kind": "system", "id": None, "name": None}
