"""End to end: an order's alerts and who handled them (GET /admin/alert/order/{id}),
and its address as the shop and the customer read it."""

from __future__ import annotations

from tests.support.servers import Api, Server, new_shop


async def test_an_orders_alerts_say_who_handled_them_and_how(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    other = await new_shop(server.database_url)
    login = await api.ok(
        "POST", "/admin/employee/login", json={"username": kit.username, "password": "secret123"}
    )
    merchant = str(login["token"])
    customer, address = await api.new_customer()
    order = await api.place_order(customer, address, [kit.dish_ids[0]])
    path = f"/admin/alert/order/{order['id']}"
    assert await api.ok("GET", path, token=merchant, header="token") == [], "unpaid: no alert"
    await api.pay(customer, order["orderNumber"])
    await api.ok("GET", f"/user/order/reminder/{order['id']}", token=customer)
    await api.ok(
        "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": order["id"]}
    )

    new, reminder = await api.ok("GET", path, token=merchant, header="token")
    assert (new["type"], new["seq"], new["orderId"]) == (1, 1, order["id"])
    assert new["handled"]["action"] == "confirm"
    assert new["handledBy"] == {"id": login["id"], "name": login["name"]}
    assert reminder["type"] == 2 and "handled" not in reminder and reminder["handledBy"] is None

    await api.ok(
        "PUT",
        "/admin/alert/reply",
        token=merchant,
        header="token",
        json={"orderId": order["id"], "reply": "cooking"},
    )
    _, reminder = await api.ok("GET", path, token=merchant, header="token")
    assert reminder["handled"]["action"] == "reply" and reminder["handled"]["reply"]
    assert reminder["handledBy"]["name"] == login["name"]

    # Another shop's merchant, a missing order, a bad id.
    stranger = await api.merchant_token(other.username)
    assert (await api.call("GET", path, token=stranger, header="token")).status_code == 404
    missing = await api.call("GET", "/admin/alert/order/999999", token=merchant, header="token")
    assert missing.status_code == 404
    bad = await api.call("GET", "/admin/alert/order/abc", token=merchant, header="token")
    assert bad.status_code == 422 and bad.json()["code"] == 0
    assert (await api.call("GET", path)).status_code == 401


async def test_a_municipality_is_written_once_in_the_orders_address(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, _ = await api.new_customer()
    address = await api.ok(
        "POST",
        "/user/addressBook",
        token=customer,
        json={
            "consignee": "王五",
            "phone": "13900000001",
            "provinceName": "北京市",
            "cityName": "北京市",
            "districtName": "海淀区",
            "detail": "中关村大街1号",
        },
    )
    order = await api.place_order(customer, int(address["id"]), [kit.dish_ids[0]])
    mine = await api.ok("GET", f"/user/order/orderDetail/{order['id']}", token=customer)
    assert mine["address"] == "北京市海淀区中关村大街1号"
    theirs = await api.ok(
        "GET", f"/admin/order/details/{order['id']}", token=merchant, header="token"
    )
    assert theirs["address"] == "北京市海淀区中关村大街1号"
