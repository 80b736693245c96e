"""Requests that read a row and write based on it, sent at once to two server
processes on one PostgreSQL: every answer that says success counts, none is a 500,
and the rules hold whatever the timing (one order per cart, one shop per cart and
order, one default address, one answer per reminder, one hand per alert). Also
the upgrade that puts right the default addresses races left, and the demo seeded
by several commands at once."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from orderbell.services.publishing import create_api_key
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from orderbell.storage.tables import AddressBook, Customer, Merchant, Shop
from tests.e2e.server import PASSWORD, Api, Server, ShopKit, new_shop
from tests.integration.services import in_thread

pytestmark = pytest.mark.e2e

AT_ONCE = 16
# Where one request per row races too briefly to lose reliably: several rows at once.
CUSTOMERS, EACH = 6, 12
EMPTY_CART = "The shopping cart is empty."


Call = tuple[str, str, dict[str, Any]]


async def together(apis: list[Api], calls: list[Call]) -> list[httpx.Response]:
    """The requests ``(method, path, options)``, sent at the same moment, alternating
    between the processes; their answers in the same order."""
    gate = asyncio.Event()

    async def one(i: int, method: str, path: str, kw: dict[str, Any]) -> httpx.Response:
        await gate.wait()
        return await apis[i % len(apis)].call(method, path, **kw)

    tasks = [asyncio.create_task(one(i, *call)) for i, call in enumerate(calls)]
    await asyncio.sleep(0)
    gate.set()
    return list(await asyncio.gather(*tasks))


async def at_once(
    apis: list[Api], count: int, method: str, path: str, **kw: Any
) -> list[httpx.Response]:
    """``count`` copies of one request, sent together, alternating between the processes."""
    return await together(apis, [(method, path, kw)] * count)


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    """How many answers of each (HTTP status, message); successes have no message."""
    seen: Counter[tuple[int, str | None]] = Counter()
    for r in responses:
        body = r.json()
        assert set(body) == {"code", "msg", "data"}, body
        seen[(r.status_code, None if body["code"] == 1 else body["msg"])] += 1
    return seen


def no_server_errors(responses: list[httpx.Response]) -> None:
    assert [r.json() for r in responses if r.status_code >= 500] == []


async def bare_customer(api: Api) -> str:
    """A new customer's token; the customer has no address yet."""
    phone = f"137{secrets.randbelow(10**8):08d}"
    await api.ok(
        "POST", "/user/user/register", json={"phone": phone, "password": PASSWORD, "name": "顾客"}
    )
    data = await api.ok("POST", "/user/user/login", json={"phone": phone, "password": PASSWORD})
    return str(data["token"])


async def cart(api: Api, token: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = await api.ok("GET", "/user/shoppingCart/list", token=token)
    return lines


async def orders_of(api: Api, token: str) -> list[dict[str, Any]]:
    page = await api.ok("GET", "/user/order/historyOrders?pageSize=100", token=token)
    records: list[dict[str, Any]] = page["records"]
    return records


async def test_one_dish_added_at_once_counts_every_success(
    apis: list[Api], pair: list[Server]
) -> None:
    kit = await new_shop(pair[0].database_url)
    token, _ = await apis[0].new_customer()
    dish = kit.dish_ids[0]

    responses = await at_once(
        apis, 20, "POST", "/user/shoppingCart/add", token=token, json={"dishId": dish}
    )

    no_server_errors(responses)
    assert outcomes(responses) == {(200, None): 20}
    [line] = await cart(apis[1], token)
    assert (line["dishId"], line["number"]) == (dish, 20)
    # The quantity each answer reports is the one that request made: 1..20, once each.
    assert sorted(r.json()["data"]["number"] for r in responses) == list(range(1, 21))


async def test_one_cart_submitted_at_once_becomes_one_order(
    apis: list[Api], pair: list[Server]
) -> None:
    kit = await new_shop(pair[0].database_url)
    token, address = await apis[0].new_customer()
    for dish in (kit.dish_ids[0], kit.dish_ids[0], kit.dish_ids[1]):
        await apis[0].ok("POST", "/user/shoppingCart/add", token=token, json={"dishId": dish})

    responses = await at_once(
        apis, AT_ONCE, "POST", "/user/order/submit", token=token, json={"addressBookId": address}
    )

    no_server_errors(responses)
    assert outcomes(responses) == {(200, None): 1, (400, EMPTY_CART): AT_ONCE - 1}
    [order] = await orders_of(apis[1], token)
    [won] = [r.json()["data"] for r in responses if r.status_code == 200]
    assert order["id"] == won["id"]
    assert order["orderDishes"] == "宫保鸡丁*2;米饭*1"
    assert await cart(apis[0], token) == []


async def test_dishes_of_two_shops_added_at_once_never_share_a_cart_or_an_order(
    apis: list[Api], pair: list[Server]
) -> None:
    one = await new_shop(pair[0].database_url, "One Kitchen")
    two = await new_shop(pair[0].database_url, "Two Kitchen")
    shop_of = {dish: kit.shop_id for kit in (one, two) for dish in kit.dish_ids}
    token, address = await apis[0].new_customer()
    gate = asyncio.Event()

    async def add(i: int, kit: ShopKit) -> httpx.Response:
        await gate.wait()
        dish = kit.dish_ids[i % 2]
        return await apis[i % 2].call(
            "POST", "/user/shoppingCart/add", token=token, json={"dishId": dish}
        )

    for _ in range(5):
        calls = [
            asyncio.create_task(add(i, kit)) for i in range(AT_ONCE // 2) for kit in (one, two)
        ]
        await asyncio.sleep(0)
        gate.set()
        responses = list(await asyncio.gather(*calls))
        gate.clear()

        no_server_errors(responses)
        accepted = [r.json()["data"] for r in responses if r.status_code == 200]
        refused = [r.json() for r in responses if r.status_code != 200]
        # One shop won the cart; each of the other's dishes was refused, saying what to do.
        assert len({line["shopId"] for line in accepted}) == 1
        assert len(accepted) + len(refused) == AT_ONCE
        for body in refused:
            assert body["code"] == 0
            assert "another shop" in body["msg"] and "/user/shoppingCart/clean" in body["msg"]
        lines = await cart(apis[1], token)
        assert {shop_of[line["dishId"]] for line in lines} == {accepted[0]["shopId"]}
        assert sum(line["number"] for line in lines) == len(accepted)

        order = await apis[0].ok(
            "POST", "/user/order/submit", token=token, json={"addressBookId": address}
        )
        detail = await apis[1].ok("GET", f"/user/order/orderDetail/{order['id']}", token=token)
        assert {shop_of[d["dishId"]] for d in detail["orderDetailList"]} == {detail["shopId"]}


async def test_repeating_an_order_at_once_fills_the_cart_once(
    apis: list[Api], pair: list[Server]
) -> None:
    kit = await new_shop(pair[0].database_url)
    token, address = await apis[0].new_customer()
    order = await apis[0].place_order(token, address, [kit.dish_ids[0], kit.dish_ids[1]])

    responses = await at_once(
        apis, AT_ONCE, "POST", f"/user/order/repetition/{order['id']}", token=token
    )

    no_server_errors(responses)
    assert outcomes(responses) == {(200, None): AT_ONCE}
    lines = await cart(apis[1], token)
    assert sorted((line["dishId"], line["number"]) for line in lines) == [
        (kit.dish_ids[0], 1),
        (kit.dish_ids[1], 1),
    ]


@pytest.mark.parametrize("marked_default", [False, True])
async def test_addresses_added_at_once_leave_one_default(
    apis: list[Api], marked_default: bool
) -> None:
    tokens = [await bare_customer(apis[0]) for _ in range(CUSTOMERS)]
    address = {"consignee": "李四", "phone": "13900000000", "detail": "测试路 1 号"}
    body = address | {"isDefault": marked_default}

    responses = await together(
        apis,
        [("POST", "/user/addressBook", {"token": t, "json": body}) for t in tokens] * EACH,
    )

    no_server_errors(responses)
    assert outcomes(responses) == {(200, None): CUSTOMERS * EACH}
    for token in tokens:
        book = await apis[1].ok("GET", "/user/addressBook/list", token=token)
        assert len(book) == EACH
        defaults = [a["id"] for a in book if a["isDefault"] == 1]
        assert len(defaults) == 1, book
        default = await apis[0].ok("GET", "/user/addressBook/default", token=token)
        assert default["id"] == defaults[0]
        if not marked_default:
            # The first address stored is the default; the others came after it.
            assert defaults[0] == min(a["id"] for a in book)


async def paid_orders(apis: list[Api], kit: ShopKit, count: int) -> list[tuple[str, int]]:
    """``count`` paid orders of the shop, each of its own customer: (customer token, order id)."""
    paid = []
    for _ in range(count):
        token, address = await apis[0].new_customer()
        order = await apis[0].place_order(token, address, [kit.dish_ids[0]])
        await apis[1].pay(token, order["orderNumber"])
        paid.append((token, int(order["id"])))
    return paid


async def test_reminders_answered_at_once_by_the_staff_are_answered_once(
    apis: list[Api], pair: list[Server]
) -> None:
    kit = await new_shop(pair[0].database_url)
    merchant = await apis[0].merchant_token(kit.username)
    paid = await paid_orders(apis, kit, CUSTOMERS)
    for token, order_id in paid:
        await apis[1].ok("GET", f"/user/order/reminder/{order_id}", token=token)
    staff = {"token": merchant, "header": "token"}

    responses = await together(
        apis,
        [
            ("PUT", "/admin/alert/reply", staff | {"json": {"orderId": o, "reply": "cooking"}})
            for _, o in paid
        ]
        * EACH,
    )

    no_server_errors(responses)
    for i in range(CUSTOMERS):
        assert outcomes(responses[i::CUSTOMERS]) == {
            (200, None): 1,
            (400, "This order has no open reminder to answer."): EACH - 1,
        }
    still_open = await apis[1].ok("GET", "/admin/alert/unhandled", **staff)
    assert [a["type"] for a in still_open] == [1] * CUSTOMERS, "only the new-order alerts"


async def dismissed_at_once(apis: list[Api], staff: dict[str, Any], seqs: list[int]) -> None:
    responses = await together(
        apis, [("PUT", "/admin/alert/dismiss", staff | {"json": {"seq": s}}) for s in seqs] * EACH
    )
    no_server_errors(responses)
    for i, seq in enumerate(seqs):
        assert outcomes(responses[i :: len(seqs)]) == {
            (200, None): 1,
            (404, f"No open alert {seq} in your shop."): EACH - 1,
        }


async def test_alerts_dismissed_at_once_are_dismissed_once(
    apis: list[Api], pair: list[Server]
) -> None:
    kit = await new_shop(pair[0].database_url)
    merchant = await apis[0].merchant_token(kit.username)
    staff = {"token": merchant, "header": "token"}

    # Alerts of orders here (the order is locked), then of another order system's.
    await paid_orders(apis, kit, CUSTOMERS)
    ours = [a["seq"] for a in await apis[0].ok("GET", "/admin/alert/unhandled", **staff)]
    assert len(ours) == CUSTOMERS
    await dismissed_at_once(apis, staff, ours)

    db = Database(pair[0].database_url)
    try:
        issued = await create_api_key(db, kit.shop_id, "races")
    finally:
        await db.dispose()
    theirs = []
    for i in range(CUSTOMERS):
        response = await apis[i % 2].http.post(
            f"/api/v1/shops/{kit.shop_id}/alerts",
            headers={"X-Api-Key": issued.key},
            json={"type": 1, "orderNumber": f"SKY{i:04d}", "orderId": 9000 + i},
        )
        assert response.status_code == 201, response.text
        theirs.append(int(response.json()["data"]["seq"]))
    await dismissed_at_once(apis, staff, theirs)
    assert await apis[1].ok("GET", "/admin/alert/unhandled", **staff) == []


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'book.db'}"
    return str(request.getfixturevalue("empty_postgres_url"))


async def test_the_upgrade_keeps_the_newest_of_the_defaults_a_race_left(
    unmigrated_url: str,
) -> None:
    in_thread(upgrade_database, unmigrated_url, "0005")
    db = Database(unmigrated_url)
    try:
        async with db.transaction() as session:
            raced, calm = (
                Customer(phone=p, name="顾客", password_hash="x")
                for p in ("13900000001", "13900000002")
            )
            session.add_all([raced, calm])
            await session.flush()
            session.add_all(
                AddressBook(
                    customer_id=c.id, consignee="李四", phone="13900000000", detail=d, is_default=m
                )
                for c, d, m in [
                    (raced, "一", True),
                    (raced, "二", True),
                    (raced, "三", True),
                    (raced, "四", False),
                    (calm, "五", True),
                    (calm, "六", False),
                ]
            )
        in_thread(upgrade_database, unmigrated_url)
        async with db.sessions() as session:
            defaults = list(
                await session.execute(
                    select(AddressBook.customer_id, AddressBook.detail)
                    .where(AddressBook.is_default.is_(True))
                    .order_by(AddressBook.customer_id)
                )
            )
        assert [tuple(row) for row in defaults] == [(raced.id, "三"), (calm.id, "五")]
        # And the database now refuses a second default outright.
        with pytest.raises(IntegrityError):
            async with db.transaction() as session:
                session.add(
                    AddressBook(
                        customer_id=calm.id,
                        consignee="李四",
                        phone="1",
                        detail="七",
                        is_default=True,
                    )
                )
    finally:
        await db.dispose()


async def test_the_demo_seeded_by_several_commands_at_once_is_there_once(postgres_url: str) -> None:
    env = dict(os.environ, ORDERBELL_DATABASE_URL=postgres_url, ORDERBELL_LOG_LEVEL="warning")
    runs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orderbell",
            "demo",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    said = [(await run.communicate())[0].decode(errors="replace") for run in runs]

    assert [run.returncode for run in runs] == [0] * len(runs), said
    db = Database(postgres_url)
    try:
        async with db.sessions() as session:
            merchants = list(await session.scalars(select(Merchant.username).order_by(Merchant.id)))
            shops = await session.scalar(select(func.count()).select_from(Shop))
            customers = await session.scalar(select(func.count()).select_from(Customer))
    finally:
        await db.dispose()
    assert (merchants, shops, customers) == (["demo", "demo2"], 2, 1)
    assert sum("created shop" in out for out in said) == 1, said
