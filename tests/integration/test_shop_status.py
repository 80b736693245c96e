"""A shop's status changed from two processes at once, on the real databases: a pause
or resume decided by several processes is one change with one history row, and a
close racing submits through two server processes on PostgreSQL and Redis has one
outcome per submit (accepted before the close, or refused with nothing written)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from sqlalchemy import func, select

from orderbell.domain.errors import BusinessError
from orderbell.domain.shop_status import (
    CLOSED_MESSAGE,
    NO_CONSOLE_ONLINE,
    PAUSED_MESSAGE,
    ShopStatus,
)
from orderbell.services import orders as order_service
from orderbell.services import shop_status
from orderbell.services.accounts import register_customer
from orderbell.services.addresses import add_address
from orderbell.services.carts import add_dish
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Merchant, Order, ShopStatusChange
from tests.support.processes import Process
from tests.support.servers import Api, Server, ShopKit, new_shop

AT_ONCE = 8
_phones = itertools.count(int(time.time() * 1000) % 10**7 + 5 * 10**7)
ROUNDS = 3
CUSTOMERS = 12


async def changes(db: Database, shop_id: int) -> list[tuple[str, str, str, str]]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(ShopStatusChange)
            .where(ShopStatusChange.shop_id == shop_id)
            .order_by(ShopStatusChange.id)
        )
        return [(r.from_status, r.to_status, r.reason, r.actor) for r in rows]


async def test_pause_and_resume_decided_at_once_by_two_processes_are_one_change_each(
    processes: list[Process], database_url: str
) -> None:
    one = processes[0]
    kit = await new_shop(database_url)
    for process in processes:
        await process.broker.subscribe(kit.shop_id)

    paused = await asyncio.gather(
        *(
            shop_status.pause(p.outbox, kit.shop_id, NO_CONSOLE_ONLINE)
            for _ in range(AT_ONCE)
            for p in processes
        )
    )
    assert sorted(paused) == [False] * (2 * AT_ONCE - 1) + [True]
    state = await shop_status.current(one.database, kit.shop_id)
    assert (state.status, state.reason) == (ShopStatus.PAUSED, NO_CONSOLE_ONLINE)

    resumed = await asyncio.gather(
        *(
            shop_status.resume(p.outbox, kit.shop_id, "console_online")
            for _ in range(AT_ONCE)
            for p in processes
        )
    )
    assert sorted(resumed) == [False] * (2 * AT_ONCE - 1) + [True]
    assert await changes(one.database, kit.shop_id) == [
        ("open", "paused", NO_CONSOLE_ONLINE, "system"),
        ("paused", "open", "console_online", "system"),
    ]
    frames = [n for p in processes for n in p.notices if n["type"] == "shopStatus"]
    assert sorted((f["status"], f["takingOrders"], f["reason"]) for f in frames) == [
        ("open", True, "console_online"),
        ("paused", False, NO_CONSOLE_ONLINE),
    ]
    assert len(frames) == 2, "one frame per change, from whichever process made it"


async def merchant_of(process: Process, kit: ShopKit) -> int:
    async with process.database.sessions() as session:
        found = await session.scalar(select(Merchant.id).where(Merchant.username == kit.username))
    assert found is not None
    return found


async def test_resume_never_reopens_a_shop_closed_by_hand(
    processes: list[Process], database_url: str
) -> None:
    one, two = processes
    kit = await new_shop(database_url)
    assert await shop_status.pause(one.outbox, kit.shop_id, NO_CONSOLE_ONLINE)
    # The merchant closes the paused shop, while the system tries to resume it.
    results = await asyncio.gather(
        shop_status.set_by_merchant(
            one.outbox, kit.shop_id, ShopStatus.CLOSED, merchant_id=await merchant_of(one, kit)
        ),
        *(shop_status.resume(two.outbox, kit.shop_id, "console_online") for _ in range(4)),
    )
    final = await shop_status.current(two.database, kit.shop_id)
    history = await changes(one.database, kit.shop_id)
    assert final.status is ShopStatus.CLOSED
    resumed = sum(1 for r in results[1:] if r is True)
    # Either the resume came first (then the close) or it found the shop closed.
    assert history[-1][:2] == ("paused", "closed") or history[-1][:2] == ("open", "closed")
    assert resumed == (1 if history[-1][0] == "open" else 0)
    assert not await shop_status.resume(two.outbox, kit.shop_id, "console_online")
    assert not await shop_status.pause(two.outbox, kit.shop_id, NO_CONSOLE_ONLINE)
    assert (await shop_status.current(one.database, kit.shop_id)).status is ShopStatus.CLOSED


async def test_paid_submits_racing_a_pause_are_placed_before_it_or_refused(
    processes: list[Process], database_url: str
) -> None:
    """Each submit holds the shop's row (FOR KEY SHARE) and, paying at once, bumps
    its alert seq: many at once and a pause neither deadlock nor let an order in
    after the pause; the refused are told the shop cannot take orders now."""
    kit = await new_shop(database_url)
    customers = []
    for i in range(2 * AT_ONCE):
        customer = await register_customer(
            processes[0].database,
            phone=f"136{next(_phones) % 10**8:08d}",
            password="secret123",
            name="顾客",
        )
        address = await add_address(
            processes[0].database, customer.id, consignee="李四", phone="13600000000", detail="1号"
        )
        await add_dish(processes[0].database, customer.id, kit.dish_ids[i % 2])
        customers.append((customer.id, address.id))

    async def place(i: int) -> Order | str:
        customer, address = customers[i]
        try:
            return await order_service.submit(
                processes[i % 2].outbox,
                customer,
                order_service.Submission(address_book_id=address),
                auto_pay=True,
            )
        except BusinessError as exc:
            return exc.message

    submits = [place(i) for i in range(2 * AT_ONCE)]
    half = AT_ONCE
    outcomes = await asyncio.gather(
        *submits[:half],
        shop_status.pause(processes[1].outbox, kit.shop_id, NO_CONSOLE_ONLINE),
        *submits[half:],
    )
    paused = outcomes.pop(half)
    assert paused is True
    placed = [o for o in outcomes if isinstance(o, Order)]
    assert [o for o in outcomes if not isinstance(o, Order)] == [PAUSED_MESSAGE] * (
        2 * AT_ONCE - len(placed)
    )
    async with processes[0].database.sessions() as session:
        seqs = sorted(
            await session.scalars(select(AlertRow.seq).where(AlertRow.shop_id == kit.shop_id))
        )
        pause_time = await session.scalar(
            select(ShopStatusChange.created_at).where(ShopStatusChange.shop_id == kit.shop_id)
        )
    assert seqs == list(range(1, len(placed) + 1)), "one new-order alert per placed order"
    assert pause_time is not None
    assert all(o.order_time < pause_time for o in placed)


@pytest.mark.e2e
async def test_a_close_racing_submits_on_two_processes_has_one_outcome_per_submit(
    apis: list[Api], pair: list[Server]
) -> None:
    database = Database(pair[0].database_url)
    try:
        for _ in range(ROUNDS):
            await _one_round(apis, pair[0], database)
    finally:
        await database.dispose()


async def _one_round(apis: list[Api], server: Server, database: Database) -> None:
    kit = await new_shop(server.database_url)
    merchant = await apis[0].merchant_token(kit.username)
    customers = [await apis[i % 2].new_customer() for i in range(CUSTOMERS)]
    for i, (token, _) in enumerate(customers):
        await apis[i % 2].ok(
            "POST", "/user/shoppingCart/add", token=token, json={"dishId": kit.dish_ids[0]}
        )

    gate = asyncio.Event()

    async def submit(i: int) -> tuple[int, dict[str, object]]:
        token, address = customers[i]
        await gate.wait()
        r = await apis[i % 2].call(
            "POST", "/user/order/submit", token=token, json={"addressBookId": address}
        )
        return r.status_code, r.json()

    async def close() -> tuple[int, dict[str, object]]:
        await gate.wait()
        r = await apis[1].call("PUT", "/admin/shop/0", token=merchant, header="token")
        return r.status_code, r.json()

    half = CUSTOMERS // 2
    tasks = [asyncio.create_task(submit(i)) for i in range(half)]
    tasks.append(asyncio.create_task(close()))
    tasks += [asyncio.create_task(submit(i)) for i in range(half, CUSTOMERS)]
    await asyncio.sleep(0)
    gate.set()
    answers = await asyncio.gather(*tasks)
    closed = answers.pop(half)
    assert closed == (200, {"code": 1, "msg": None, "data": None})

    accepted = [i for i, (status, body) in enumerate(answers) if body["code"] == 1]
    refused = [i for i, (status, body) in enumerate(answers) if body["code"] != 1]
    assert all(status < 500 for status, _ in answers), answers
    assert all((answers[i][0], answers[i][1]["msg"]) == (400, CLOSED_MESSAGE) for i in refused), (
        answers
    )
    for i in accepted:
        assert answers[i][0] == 200 and answers[i][1]["data"]["orderNumber"]  # type: ignore[index]

    # Every submit has one outcome: an order and an empty cart, or no order and its cart.
    for i, (token, _) in enumerate(customers):
        api = apis[i % 2]
        orders = (await api.ok("GET", "/user/order/historyOrders?pageSize=10", token=token))[
            "records"
        ]
        cart = await api.ok("GET", "/user/shoppingCart/list", token=token)
        if i in accepted:
            assert (len(orders), cart) == (1, []), i
        else:
            assert (orders, len(cart)) == ([], 1), i

    # No order was made after the close committed: each was placed before it.
    async with database.sessions() as session:
        close_time = await session.scalar(
            select(ShopStatusChange.created_at).where(ShopStatusChange.shop_id == kit.shop_id)
        )
        latest = await session.scalar(
            select(func.max(Order.order_time)).where(Order.shop_id == kit.shop_id)
        )
        count = await session.scalar(
            select(func.count()).select_from(Order).where(Order.shop_id == kit.shop_id)
        )
    assert close_time is not None
    assert count == len(accepted)
    if latest is not None:
        assert latest < close_time
