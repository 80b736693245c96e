"""How fast a shop answers, on a real server: consoles' ``ack`` frames, the
response-time report, and the histogram of seconds to accept."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import websockets
from sqlalchemy import select, update

from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Order, utcnow
from tests.support.frames import collect
from tests.support.metrics import metric
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, ShopKit, new_shop

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def paid(api: Api, kit: ShopKit) -> dict[str, Any]:
    """A new customer's paid order of ``kit``: the submit data + ``customer``."""
    token, address = await api.new_customer()
    order = await api.place_order(token, address, [kit.dish_ids[0]])
    await api.pay(token, order["orderNumber"])
    return order | {"customer": token}


async def times(database_url: str, shop_id: int, seq: int) -> tuple[Any, Any]:
    """(first_shown_at, first_rung_at) of one alert."""
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            row = (
                await session.execute(
                    select(AlertRow.first_shown_at, AlertRow.first_rung_at).where(
                        AlertRow.shop_id == shop_id, AlertRow.seq == seq
                    )
                )
            ).one()
            return row[0], row[1]
    finally:
        await db.dispose()


async def set_rung(database_url: str, shop_id: int, seq: int, at: datetime) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await session.execute(
                update(AlertRow)
                .where(AlertRow.shop_id == shop_id, AlertRow.seq == seq)
                .values(first_rung_at=at)
            )
    finally:
        await db.dispose()


def ack(seq: object, what: object) -> str:
    return orjson.dumps({"type": "ack", "seq": seq, "what": what}).decode()


async def test_acks_set_the_earliest_shown_and_rung_times_and_bad_ones_keep_the_console(
    server: Server, api: Api
) -> None:
    kit, other = await new_shop(server.database_url), await new_shop(server.database_url)
    token = await api.merchant_token(kit.username)
    await paid(api, kit)  # seq 1
    await paid(api, kit)  # seq 2
    await paid(api, other)  # the other shop's seq 1
    url = server.ws_url(token, "front", protocol="2")
    async with websockets.connect(url) as first, websockets.connect(url) as second:
        assert [f["type"] for f in await collect(first, 2)] == ["hello", "synced"]
        assert [f["type"] for f in await collect(second, 2)] == ["hello", "synced"]
        # Another process already wrote an earlier ring of seq 2; a later one of
        # seq 1 (its clock was ahead) is replaced by the earlier time heard here.
        earlier = utcnow() - timedelta(minutes=5)
        await set_rung(server.database_url, kit.shop_id, 2, earlier)
        await set_rung(server.database_url, kit.shop_id, 1, utcnow() + timedelta(hours=1))

        for bad in (
            "not json",
            ack("1", "shown"),
            ack(True, "rung"),
            ack(1, "heard"),
            ack(0, "shown"),
        ):
            await first.send(bad)
        sent = utcnow()
        await first.send(ack(1, "shown"))
        await first.send(ack(1, "rung"))
        await first.send(ack(2, "rung"))
        shown, rung = await wait_until(
            lambda: _both(server.database_url, kit.shop_id, 1), what="seq 1 shown and rung"
        )
        assert sent - timedelta(seconds=1) <= shown <= utcnow()
        assert sent - timedelta(seconds=1) <= rung <= utcnow()

        # Later acks, from another console of the shop, change nothing.
        for what in ("shown", "rung"):
            await second.send(ack(1, what))
        await second.send(ack(2, "rung"))
        third = await paid(api, kit)  # seq 3: the consoles are still there
        [frame] = await collect(first, 1)
        assert (frame["seq"], frame["orderId"]) == (3, third["id"])
        [frame] = await collect(second, 1)
        assert frame["seq"] == 3
        await second.send(ack(3, "shown"))
        await wait_until(lambda: _shown(server.database_url, kit.shop_id, 3), what="seq 3 shown")
        # Written in the same batches as seq 3's or before it: all in place now.
        assert await times(server.database_url, kit.shop_id, 1) == (shown, rung)
        assert (await times(server.database_url, kit.shop_id, 2))[1] == earlier
        # A console acks only its own shop's alerts.
        assert await times(server.database_url, other.shop_id, 1) == (None, None)
    assert "Traceback" not in server.log()


async def _both(database_url: str, shop_id: int, seq: int) -> tuple[Any, Any] | None:
    shown, rung = await times(database_url, shop_id, seq)
    return (shown, rung) if shown is not None and rung is not None and rung < utcnow() else None


async def _shown(database_url: str, shop_id: int, seq: int) -> bool:
    return (await times(database_url, shop_id, seq))[0] is not None


def local(day: str, clock: str) -> datetime:
    """A time of the shop's zone as the naive UTC the tables store."""
    aware = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI)
    return aware.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


async def place(
    database_url: str,
    order_id: int,
    *,
    paid_at: datetime,
    wait: float | None = None,
    ring: float | None = None,
    auto_cancelled: bool = False,
) -> None:
    """Move an order's payment (and acceptance, and first ring) to controlled times."""
    db = Database(database_url)
    values: dict[str, Any] = {"checkout_time": paid_at}
    if wait is not None:
        values["accepted_at"] = paid_at + timedelta(seconds=wait)
    if auto_cancelled:
        values |= {"status": 6, "pay_status": 2, "cancel_reason": "商家未及时接单"}
    try:
        async with db.transaction() as session:
            await session.execute(update(Order).where(Order.id == order_id).values(values))
            rung = None if ring is None else paid_at + timedelta(seconds=ring)
            await session.execute(
                update(AlertRow)
                .where(AlertRow.order_id == order_id, AlertRow.type == 1)
                .values(first_rung_at=rung)
            )
    finally:
        await db.dispose()


async def report(api: Api, token: str, **params: str) -> httpx.Response:
    return await api.call("GET", "/admin/report/alerts", token=token, header="token", params=params)


async def test_the_report_sums_up_days_and_hours_of_the_shops_zone(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    token = await api.merchant_token(kit.username)
    orders = [await paid(api, kit) for _ in range(5)]
    # One reminder, of the first order, while it waits.
    await api.ok("GET", f"/user/order/reminder/{orders[0]['id']}", token=orders[0]["customer"])
    before = await api.http.get("/metrics")
    for order in orders[:4]:
        await api.ok(
            "PUT", "/admin/order/confirm", token=token, header="token", json={"id": order["id"]}
        )
    after = await api.http.get("/metrics")
    # The histogram of seconds to accept counted the four acceptances here.
    count = "orderbell_order_accept_seconds_count"
    assert metric(after.text, count) - metric(before.text, count) == 4
    assert metric(after.text, "orderbell_order_accept_seconds_bucket", '{le="1800.0"}') >= 4

    # 9:10 and 9:40 of 10 March in Shanghai, 23:30 that night, and 0:20 the next
    # day, which is still 10 March in UTC.
    day = "2026-03-10"
    await place(server.database_url, orders[0]["id"], paid_at=local(day, "09:10"), wait=30, ring=4)
    await place(server.database_url, orders[1]["id"], paid_at=local(day, "09:40"), wait=90, ring=6)
    await place(server.database_url, orders[2]["id"], paid_at=local(day, "23:30"), wait=60)
    await place(
        server.database_url,
        orders[4]["id"],
        paid_at=local("2026-03-11", "00:20"),
        auto_cancelled=True,
    )
    # Today (the default): the one order left as it is, accepted just now.
    today = (await report(api, token)).json()["data"]
    assert (today["ordersPaid"], today["ordersAccepted"]) == (1, 1)
    assert today["begin"] == today["end"] == datetime.now(SHANGHAI).date().isoformat()
    assert today["timeZone"] == "Asia/Shanghai"

    one = (await report(api, token, begin=day, end=day)).json()["data"]
    assert {k: one[k] for k in one if k != "hours"} == {
        "begin": day,
        "end": day,
        "timeZone": "Asia/Shanghai",
        "ordersPaid": 3,
        "ordersAccepted": 3,
        "ordersAutoCancelled": 0,
        "ordersRung": 2,
        "ringMedianSeconds": 5.0,
        "ringP90Seconds": 5.8,
        "acceptMedianSeconds": 60.0,
        "acceptP90Seconds": 84.0,
        "reminders": 1,
        "remindersPerOrder": 0.33,
    }
    hours = {h["hour"]: h for h in one["hours"]}
    assert sorted(hours) == list(range(24))
    assert [h for h in hours if hours[h]["ordersPaid"]] == [9, 23]
    assert (hours[9]["ordersPaid"], hours[9]["acceptMedianSeconds"]) == (2, 60.0)
    assert (hours[9]["reminders"], hours[9]["ringP90Seconds"]) == (1, 5.8)
    assert (hours[23]["acceptP90Seconds"], hours[23]["ringMedianSeconds"]) == (60.0, None)
    assert hours[1]["remindersPerOrder"] is None

    two = (await report(api, token, begin=day, end="2026-03-11")).json()["data"]
    assert (two["ordersPaid"], two["ordersAccepted"], two["ordersAutoCancelled"]) == (4, 3, 1)
    assert (two["hours"][0]["ordersPaid"], two["hours"][0]["ordersAutoCancelled"]) == (1, 1)

    for params, field in [
        ({"begin": "2026-3-10"}, "begin"),
        ({"begin": "2026-02-30"}, "begin"),
        ({"begin": "1700000000"}, "begin"),
        ({"begin": "2026-03-10T00:00"}, "begin"),
        ({"end": "1999-12-31", "begin": "1999-12-30"}, "begin"),
        ({"begin": "2026-03-11", "end": "2026-03-10"}, "end"),
        ({"begin": "2026-01-01", "end": "2026-02-01"}, "end"),
    ]:
        response = await report(api, token, **params)
        body = response.json()
        assert (response.status_code, body["code"]) == (422, 0), (params, body)
        assert field in {e["field"] for e in body["data"]["errors"]}, (params, body)
    # Thirty-one days is the most, and fine.
    assert (await report(api, token, begin="2026-01-01", end="2026-01-31")).status_code == 200
    assert (await report(api, "")).status_code == 401
