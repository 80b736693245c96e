"""Text that looks like SQL, HTML, templates or is full of emoji is stored and
given back exactly as it was sent: nothing is executed, escaped or mangled."""

from __future__ import annotations

import itertools

import pytest

from tests.support.servers import PASSWORD, Api, Server, new_shop

SQL = "Robert'); DROP TABLE orders;--"
HTML = "<script>alert('x')</script>"
EMOJI = "👩‍🍳🍜🔥 辣！"
NAMES = [
    SQL,
    HTML,
    EMOJI,
    "' OR '1'='1' /*",
    "{{7*7}} ${jndi:ldap://x}",
    '%_\\ "quoted"',
    "\u202eevil.exe",
]
_phones = itertools.count(13500000000)


@pytest.mark.parametrize("name", NAMES)
async def test_names_come_back_as_they_were_given(api: Api, name: str) -> None:
    phone = str(next(_phones))
    created = await api.ok(
        "POST", "/user/user/register", json={"phone": phone, "password": PASSWORD, "name": name}
    )
    assert created["name"] == name
    login = await api.ok("POST", "/user/user/login", json={"phone": phone, "password": PASSWORD})
    assert login["name"] == name
    address = await api.ok(
        "POST",
        "/user/addressBook",
        token=login["token"],
        json={
            "consignee": name,
            "phone": phone,
            "provinceName": name,
            "detail": f"{SQL} {HTML} {EMOJI}",
            "label": name,
        },
    )
    listed = await api.ok("GET", "/user/addressBook/list", token=login["token"])
    for got in (address, listed[0]):
        assert got["consignee"] == name and got["provinceName"] == name and got["label"] == name
        assert got["detail"] == f"{SQL} {HTML} {EMOJI}"


async def test_an_orders_texts_come_back_to_customer_and_merchant(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    remark = f"{SQL}\n{HTML}\n{EMOJI} 100% _x_"
    order = await api.place_order(customer, address, [kit.dish_ids[0]], remark)
    await api.pay(customer, str(order["orderNumber"]))
    await api.ok("GET", f"/user/order/reminder/{order['id']}", token=customer)

    reply = "<b>稍等</b>😀' OR 1=1"
    answered = await api.ok(
        "PUT",
        "/admin/alert/reply",
        token=merchant,
        header="token",
        json={"orderId": order["id"], "reply": "custom", "text": reply},
    )
    assert answered["reply"] == reply
    reason = f"{SQL} {HTML} {EMOJI}\nsecond line"
    await api.ok(
        "PUT",
        "/admin/order/rejection",
        token=merchant,
        header="token",
        json={"id": order["id"], "rejectionReason": reason},
    )
    mine = await api.ok("GET", f"/user/order/orderDetail/{order['id']}", token=customer)
    theirs = await api.ok(
        "GET", f"/admin/order/details/{order['id']}", token=merchant, header="token"
    )
    for seen in (mine, theirs):
        assert seen["remark"] == remark
        assert seen["rejectionReason"] == reason
        assert seen["reminderReply"] == reply

    # Search terms are text, not patterns: wildcards and quotes match only themselves.
    for term, hits in (("%", 0), ("_", 0), ("' OR '1'='1", 0), (str(order["orderNumber"]), 1)):
        found = await api.ok(
            "GET",
            "/admin/order/conditionSearch",
            token=merchant,
            header="token",
            params={"number": term},
        )
        assert found["total"] == hits, term


async def test_a_cancel_reason_comes_back_as_given(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    order = await api.place_order(customer, address, [kit.dish_ids[1]])
    reason = f"{EMOJI} {HTML} {SQL}" * 3
    await api.ok(
        "PUT",
        "/admin/order/cancel",
        token=merchant,
        header="token",
        json={"id": order["id"], "cancelReason": reason},
    )
    seen = await api.ok("GET", f"/user/order/orderDetail/{order['id']}", token=customer)
    assert seen["cancelReason"] == reason and seen["status"] == 6
