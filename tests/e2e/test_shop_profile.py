"""End to end: the console's view of its shop (name, usual prep time), the login
naming the shop, and accepting an order with a prep time that the customer sees."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support.servers import Api, Server, new_shop

TIME = "%Y-%m-%d %H:%M"


async def test_the_profile_names_the_shop_and_its_prep_time_is_set_and_checked(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url, "Demo Kitchen")
    login = await api.ok(
        "POST", "/admin/employee/login", json={"username": kit.username, "password": "secret123"}
    )
    assert login["shopName"] == "Demo Kitchen"
    merchant = str(login["token"])
    profile = await api.ok("GET", "/admin/shop/profile", token=merchant, header="token")
    assert profile == {"id": kit.shop_id, "name": "Demo Kitchen", "prepMinutes": 20}

    changed = await api.ok(
        "PUT",
        "/admin/shop/profile/prepMinutes",
        token=merchant,
        header="token",
        json={"prepMinutes": 15},
    )
    assert changed["prepMinutes"] == 15
    for bad in (0, 181, "15", 15.0, True, None):
        refused = await api.call(
            "PUT",
            "/admin/shop/profile/prepMinutes",
            token=merchant,
            header="token",
            json={"prepMinutes": bad},
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["code"] == 0
    profile = await api.ok("GET", "/admin/shop/profile", token=merchant, header="token")
    assert profile["prepMinutes"] == 15, "a refused change writes nothing"
    anonymous = await api.call("GET", "/admin/shop/profile")
    assert anonymous.status_code == 401


async def test_accepting_with_a_prep_time_sets_the_time_the_customer_sees(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    orders = []
    for _ in range(3):
        order = await api.place_order(customer, address, [kit.dish_ids[0]])
        await api.pay(customer, order["orderNumber"])
        orders.append(order)
    timed, plain, bad = orders

    for minutes in (0, 181, "30", 30.5):
        refused = await api.call(
            "PUT",
            "/admin/order/confirm",
            token=merchant,
            header="token",
            json={"id": bad["id"], "prepMinutes": minutes},
        )
        assert refused.status_code == 422, (minutes, refused.text)
    still = await api.ok("GET", f"/user/order/orderDetail/{bad['id']}", token=customer)
    assert still["status"] == 2, "a refused confirm leaves the order waiting"

    await api.ok(
        "PUT",
        "/admin/order/confirm",
        token=merchant,
        header="token",
        json={"id": timed["id"], "prepMinutes": 30},
    )
    seen = await api.ok("GET", f"/user/order/orderDetail/{timed['id']}", token=customer)
    assert seen["status"] == 3
    expected = datetime.strptime(seen["estimatedDeliveryTime"], TIME)
    # Paid moments ago (the times are shown in the shop's zone, to the minute).
    paid = datetime.strptime(seen["checkoutTime"], TIME)
    assert paid + timedelta(minutes=30) <= expected <= paid + timedelta(minutes=32)

    # The original's body, {"id"}, still accepts and leaves the time as it was.
    await api.ok(
        "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": plain["id"]}
    )
    seen = await api.ok("GET", f"/user/order/orderDetail/{plain['id']}", token=customer)
    assert seen["status"] == 3 and seen["estimatedDeliveryTime"] is None
