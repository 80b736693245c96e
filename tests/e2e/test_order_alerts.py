"""End to end: orders paid and reminded over HTTP reach the shop's consoles over WebSocket."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import orjson
import pytest
import websocket  # websocket-client, the library of the seed's Python example
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.frames import collect, silence
from tests.support.servers import Api, Server, new_shop, running_server


async def test_new_order_and_reminder_reach_the_shops_console(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    async with websockets.connect(server.ws_url(merchant, sid="abc123")) as ws:
        order = await api.place_order(
            customer, address, [kit.dish_ids[0], kit.dish_ids[0], kit.dish_ids[1]]
        )
        assert await silence(ws, 0.3) == [], "no alert before payment"
        await api.pay(customer, order["orderNumber"])
        [alert] = await collect(ws, 1)
        assert alert["type"] == 1
        assert alert["orderId"] == order["id"]
        assert alert["content"] == f"订单号：{order['orderNumber']}"
        assert alert["seq"] == 1
        assert alert["shopId"] == kit.shop_id

        await api.ok("GET", f"/user/order/reminder/{order['id']}", token=customer)
        [reminder] = await collect(ws, 1)
        assert (reminder["type"], reminder["orderId"], reminder["seq"]) == (2, order["id"], 2)
        assert reminder["content"] == f"订单号：{order['orderNumber']}"

    await api.ok(
        "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": order["id"]}
    )
    detail = await api.ok(
        "GET", f"/admin/order/details/{order['id']}", token=merchant, header="token"
    )
    assert detail["status"] == 3
    assert detail["orderDishes"] == "宫保鸡丁*2;米饭*1"


async def test_amount_is_computed_by_the_server(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    customer, address = await api.new_customer()
    await api.ok("POST", "/user/shoppingCart/add", token=customer, json={"dishId": kit.dish_ids[0]})
    data = await api.ok(
        "POST",
        "/user/order/submit",
        token=customer,
        json={"addressBookId": address, "amount": 0.01, "packAmount": 0},
    )
    # 28.00 dish + 1.00 pack fee + 6.00 delivery
    assert data["orderAmount"] == 35.0


async def test_another_shops_console_gets_nothing(server: Server, api: Api) -> None:
    mine, other = await new_shop(server.database_url), await new_shop(server.database_url)
    customer, address = await api.new_customer()
    async with (
        websockets.connect(server.ws_url(await api.merchant_token(mine.username))) as own,
        websockets.connect(server.ws_url(await api.merchant_token(other.username))) as foreign,
    ):
        order = await api.place_order(customer, address, [mine.dish_ids[0]])
        await api.pay(customer, order["orderNumber"])
        await api.ok("GET", f"/user/order/reminder/{order['id']}", token=customer)
        assert [f["type"] for f in await collect(own, 2)] == [1, 2]
        assert await silence(foreign, 0.5) == []


@pytest.mark.parametrize(
    "token", [None, "", "not-a-token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged"]
)
async def test_console_without_a_valid_token_is_refused(server: Server, token: str | None) -> None:
    async with websockets.connect(server.ws_url(token)) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_a_customer_token_does_not_open_a_console(server: Server, api: Api) -> None:
    customer, _ = await api.new_customer()
    async with websockets.connect(server.ws_url(customer)) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_paying_twice_gives_one_alert(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    customer, address = await api.new_customer()
    async with websockets.connect(server.ws_url(await api.merchant_token(kit.username))) as ws:
        order = await api.place_order(customer, address, [kit.dish_ids[0]])
        first, second = await asyncio.gather(
            api.pay(customer, order["orderNumber"]), api.pay(customer, order["orderNumber"])
        )
        await api.pay(customer, order["orderNumber"])
        assert first["payStatus"] == second["payStatus"] == 1
        alerts = await collect(ws, 1)
        assert await silence(ws, 0.5) == []
    assert [a["seq"] for a in alerts] == [1]


async def test_reminders_outside_the_rules_are_refused_without_alert(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    owner, address = await api.new_customer()
    stranger, _ = await api.new_customer()
    async with websockets.connect(server.ws_url(await api.merchant_token(kit.username))) as ws:
        order = await api.place_order(owner, address, [kit.dish_ids[0]])

        unpaid = await api.call("GET", f"/user/order/reminder/{order['id']}", token=owner)
        assert unpaid.status_code == 400
        assert unpaid.json()["code"] == 0 and "waiting for payment" in unpaid.json()["msg"]

        await api.pay(owner, order["orderNumber"])
        assert [a["type"] for a in await collect(ws, 1)] == [1]

        foreign = await api.call("GET", f"/user/order/reminder/{order['id']}", token=stranger)
        assert foreign.status_code == 404 and foreign.json()["code"] == 0
        anonymous = await api.call("GET", f"/user/order/reminder/{order['id']}")
        assert anonymous.status_code == 401
        assert await silence(ws, 0.5) == []


async def test_twenty_customers_paying_at_once_reach_three_consoles(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customers = [await api.new_customer() for _ in range(20)]
    orders = [
        await api.place_order(token, address, [kit.dish_ids[0]]) for token, address in customers
    ]
    async with (
        websockets.connect(server.ws_url(merchant, sid="same")) as c1,
        websockets.connect(server.ws_url(merchant, sid="same")) as c2,
        websockets.connect(server.ws_url(merchant, sid="other")) as c3,
    ):
        await asyncio.gather(
            *(
                api.pay(token, order["orderNumber"])
                for (token, _), order in zip(customers, orders, strict=True)
            )
        )
        received = await asyncio.gather(*(collect(c, 20) for c in (c1, c2, c3)))
        extra = await asyncio.gather(*(silence(c, 0.3) for c in (c1, c2, c3)))
    expected_orders = {o["id"] for o in orders}
    for frames in received:
        assert sorted(f["seq"] for f in frames) == list(range(1, 21))
        assert {f["orderId"] for f in frames} == expected_orders
        assert all(f["type"] == 1 for f in frames)
    assert extra == [[], [], []]


async def test_the_seeds_client_library_receives_alerts(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    received: list[dict[str, object]] = []
    connected = threading.Event()

    def listen() -> None:
        # With since=0 the alert comes by replay if it was raised before the
        # server had registered this console, live otherwise: no race either way.
        ws = websocket.create_connection(server.ws_url(merchant, sid="seed", since="0"), timeout=10)
        connected.set()
        try:
            received.append(orjson.loads(ws.recv()))
        finally:
            ws.close()

    thread = threading.Thread(target=listen)
    thread.start()
    assert await asyncio.to_thread(connected.wait, 10)
    order = await api.place_order(customer, address, [kit.dish_ids[1]])
    await api.pay(customer, order["orderNumber"])
    await asyncio.to_thread(thread.join, 15)
    assert received and received[0]["type"] == 1 and received[0]["orderId"] == order["id"]


async def test_merchants_only_see_and_move_their_own_shops_orders(server: Server, api: Api) -> None:
    mine, other = await new_shop(server.database_url), await new_shop(server.database_url)
    customer, address = await api.new_customer()
    order = await api.place_order(customer, address, [mine.dish_ids[0]])
    await api.pay(customer, order["orderNumber"])
    intruder = await api.merchant_token(other.username)
    for method, path, body in [
        ("GET", f"/admin/order/details/{order['id']}", None),
        ("PUT", "/admin/order/confirm", {"id": order["id"]}),
        ("PUT", "/admin/order/rejection", {"id": order["id"], "rejectionReason": "x"}),
        ("PUT", f"/admin/order/delivery/{order['id']}", None),
    ]:
        response = await api.call(method, path, token=intruder, header="token", json=body)
        assert response.status_code == 404, (path, response.json())
    found = await api.ok("GET", "/admin/order/conditionSearch", token=intruder, header="token")
    assert found["total"] == 0
    owner = await api.merchant_token(mine.username)
    own = await api.ok("GET", "/admin/order/conditionSearch", token=owner, header="token")
    assert [r["id"] for r in own["records"]] == [order["id"]]
    stats = await api.ok("GET", "/admin/order/statistics", token=owner, header="token")
    assert stats == {"toBeConfirmed": 1, "confirmed": 0, "deliveryInProgress": 0}


async def test_customers_only_see_their_own_orders(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    owner, address = await api.new_customer()
    stranger, _ = await api.new_customer()
    order = await api.place_order(owner, address, [kit.dish_ids[0]])
    assert (
        await api.call("GET", f"/user/order/orderDetail/{order['id']}", token=stranger)
    ).status_code == 404
    assert (
        await api.call("PUT", f"/user/order/cancel/{order['id']}", token=stranger)
    ).status_code == 404
    pay = await api.call(
        "PUT", "/user/order/payment", token=stranger, json={"orderNumber": order["orderNumber"]}
    )
    assert pay.status_code == 404
    assert (await api.ok("GET", "/user/order/historyOrders", token=stranger))["total"] == 0
    mine = await api.ok("GET", "/user/order/historyOrders", token=owner)
    assert [r["id"] for r in mine["records"]] == [order["id"]]


async def test_order_lifecycle_through_the_shop(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    order = await api.place_order(customer, address, [kit.dish_ids[0]])
    oid = order["id"]
    early = await api.call(
        "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": oid}
    )
    assert early.status_code == 400 and "waiting for payment" in early.json()["msg"]
    await api.pay(customer, order["orderNumber"])
    await api.ok("PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": oid})
    await api.ok("PUT", f"/admin/order/delivery/{oid}", token=merchant, header="token")
    await api.ok("PUT", f"/admin/order/complete/{oid}", token=merchant, header="token")
    detail = await api.ok("GET", f"/user/order/orderDetail/{oid}", token=customer)
    assert (detail["status"], detail["payStatus"]) == (5, 1)
    late = await api.call("GET", f"/user/order/reminder/{oid}", token=customer)
    assert late.status_code == 400 and "completed" in late.json()["msg"]


async def test_rejection_refunds_and_customer_cannot_cancel_accepted_order(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    first = await api.place_order(customer, address, [kit.dish_ids[0]])
    await api.pay(customer, first["orderNumber"])
    await api.ok(
        "PUT",
        "/admin/order/rejection",
        token=merchant,
        header="token",
        json={"id": first["id"], "rejectionReason": "售罄"},
    )
    rejected = await api.ok("GET", f"/user/order/orderDetail/{first['id']}", token=customer)
    assert (rejected["status"], rejected["payStatus"], rejected["rejectionReason"]) == (
        6,
        2,
        "售罄",
    )

    second = await api.place_order(customer, address, [kit.dish_ids[0]])
    await api.pay(customer, second["orderNumber"])
    await api.ok(
        "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": second["id"]}
    )
    refused = await api.call("PUT", f"/user/order/cancel/{second['id']}", token=customer)
    assert refused.status_code == 400 and "contact the shop" in refused.json()["msg"]


async def test_auto_pay_raises_the_alert_on_submit(tmp_path: Path) -> None:
    with running_server(tmp_path, auto_pay="true") as srv:
        client = Api(srv)
        try:
            kit = await new_shop(srv.database_url)
            customer, address = await client.new_customer()
            async with websockets.connect(
                srv.ws_url(await client.merchant_token(kit.username))
            ) as ws:
                order = await client.place_order(customer, address, [kit.dish_ids[0]])
                [alert] = await collect(ws, 1)
            assert (alert["type"], alert["orderId"], alert["seq"]) == (1, order["id"], 1)
            again = await client.pay(customer, order["orderNumber"])
            assert again["status"] == 2
        finally:
            await client.aclose()


async def test_consoles_work_under_a_plain_asgi_server(tmp_path: Path) -> None:
    """Without orderbell's own WebSocket transport, frames go through ASGI sends."""
    plain_uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "orderbell.bootstrap:app_from_environment",
        "--port",
        "{port}",
        "--ws",
        "websockets-sansio",
        "--log-level",
        "warning",
    ]
    with running_server(tmp_path, command=plain_uvicorn) as srv:
        client = Api(srv)
        try:
            kit = await new_shop(srv.database_url)
            merchant = await client.merchant_token(kit.username)
            customer, address = await client.new_customer()
            async with websockets.connect(srv.ws_url(merchant, protocol="2")) as ws:
                assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
                order = await client.place_order(customer, address, [kit.dish_ids[0]])
                await client.pay(customer, order["orderNumber"])
                [alert] = await collect(ws, 1)
                metrics = (await client.http.get("/metrics")).text
                # The endpoint keeps its consoles itself: none is handed off.
                assert "orderbell_consoles_connected 1.0" in metrics
                assert "orderbell_consoles_live 0.0" in metrics
                # Its own receive loop refuses what the protocol does not allow.
                await ws.send(b"binary")
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
            assert (alert["type"], alert["orderId"], alert["seq"]) == (1, order["id"], 1)
        finally:
            await client.aclose()
