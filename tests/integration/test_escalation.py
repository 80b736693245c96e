"""The escalation ladder on the real databases: two "processes" (two engines, two
brokers) sweeping at once take each step once; acceptances racing the auto-cancel
have exactly one outcome each; the events carry what integrations need. Then two
real server processes on PostgreSQL and Redis: every step once per order, as a
console of each process hears it, and steps due while both were down taken once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import websockets
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.errors import BusinessError
from orderbell.domain.escalation import AUTO_CANCEL_REASON, AUTO_CANCELLED_MESSAGE, Ladder
from orderbell.domain.events import Event, EventType
from orderbell.domain.orders import Action, OrderStatus, PayStatus
from orderbell.services import escalation
from orderbell.services import orders as order_service
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Order, utcnow
from tests.integration.test_schedule import new_customer, submit
from tests.support.polling import wait_until
from tests.support.processes import Process
from tests.support.receiver import Receiver
from tests.support.servers import Api, Server, new_shop, start

DEFAULTS = Ladder(
    warn_seconds=60, notify_seconds=180, notify_repeat_seconds=300, auto_cancel_seconds=900
)


def record_events(process: Process) -> list[Event]:
    """Capture the events the process's transactions record (the dispatcher's hook)."""
    events: list[Event] = []

    async def keep(_session: AsyncSession, batch: Sequence[Event]) -> None:
        events.extend(batch)

    process.outbox.record_events = keep
    return events


async def paid_orders(process: Process, database_url: str, count: int) -> tuple[Any, list[Order]]:
    kit = await new_shop(database_url)
    customer = await new_customer(process.database)
    made = []
    for _ in range(count):
        order = await submit(process.outbox, kit, customer)
        await order_service.pay(process.outbox, customer[0], order.number)
        made.append(order)
    return kit, made


async def rows(db: Database, ids: Sequence[int]) -> dict[int, Order]:
    async with db.sessions() as session:
        return {o.id: o for o in await session.scalars(select(Order).where(Order.id.in_(ids)))}


async def paid_at(db: Database, order_id: int) -> datetime:
    checkout = (await rows(db, [order_id]))[order_id].checkout_time
    assert checkout is not None
    return checkout


async def test_concurrent_sweeps_take_each_step_once_with_the_events_integrations_need(
    processes: list[Process], database_url: str
) -> None:
    one, two = processes
    kit, made = await paid_orders(one, database_url, 9)
    ids = [o.id for o in made]
    for process in processes:
        await process.broker.subscribe(kit.shop_id)
    events = record_events(one)
    events_two = record_events(two)
    start_at = await paid_at(one.database, ids[-1])

    async def sweep_all(seconds: float) -> list[escalation.Tally]:
        now = start_at + timedelta(seconds=seconds)
        return await asyncio.gather(
            *(escalation.sweep(p.outbox, DEFAULTS, now=now, batch=2) for p in (one, two, one, two))
        )

    warned = await sweep_all(61)
    assert sum(t.warned for t in warned) == 9 and sum(t.notified for t in warned) == 0
    assert sum(t.warned for t in await sweep_all(62)) == 0, "nothing due twice"
    notified = await sweep_all(181)
    assert sum(t.notified for t in notified) == 9
    frames = [n for p in processes for n in p.notices if n["type"] == "escalation"]
    assert sorted((f["orderId"], f["level"]) for f in frames) == sorted(
        [(i, 1) for i in ids] + [(i, 2) for i in ids]
    )
    unaccepted = [e for e in events + events_two if e.type is EventType.ORDER_UNACCEPTED]
    assert sorted(e.data["orderId"] for e in unaccepted) == sorted(ids)
    sample = next(e for e in unaccepted if e.data["orderId"] == ids[-1])
    assert sample.shop_id == kit.shop_id
    assert sample.data == {
        "orderId": ids[-1],
        "orderNumber": made[-1].number,
        "shopId": kit.shop_id,
        "amount": str(made[-1].amount),
        "waitedSeconds": 181,
        "level": 2,
        "notifyCount": 1,
    }
    stored = await rows(one.database, ids)
    assert {(o.escalation_level, o.escalation_notified) for o in stored.values()} == {(2, 1)}

    # Past the auto-cancel (and the notifications missed on the way): cancelled, once.
    cancelled = await sweep_all(1000)
    assert sum(t.cancelled for t in cancelled) == 9
    assert sum(t.notified for t in cancelled) == 0
    stored = await rows(one.database, ids)
    for order in stored.values():
        assert (order.status, order.pay_status) == (OrderStatus.CANCELLED, PayStatus.REFUND)
        assert order.cancel_reason == AUTO_CANCEL_REASON and order.escalation_due_at is None
    gone = [e for e in events + events_two if e.type is EventType.ORDER_AUTO_CANCELLED]
    assert sorted(e.data["orderId"] for e in gone) == sorted(ids)
    last = next(e for e in gone if e.data["orderId"] == ids[-1])
    assert last.data == {
        "orderId": ids[-1],
        "orderNumber": made[-1].number,
        "shopId": kit.shop_id,
        "amount": str(made[-1].amount),
        "waitedSeconds": 1000,
        "reason": AUTO_CANCEL_REASON,
    }
    handled = [n for p in processes for n in p.notices if n["type"] == "handled"]
    assert sorted(n["orderId"] for n in handled) == sorted(ids)  # type: ignore[type-var]
    assert {n["action"] for n in handled} == {"expired"}
    assert sum(t.looked for t in await sweep_all(5000)) == 0, "off the ladder"


async def test_acceptances_racing_the_auto_cancel_have_one_outcome_each(
    processes: list[Process], database_url: str
) -> None:
    one, two = processes
    kit, made = await paid_orders(one, database_url, 24)
    ids = [o.id for o in made]
    # Every order is past its auto-cancel, and due: the sweeps and the shop race.
    async with one.database.transaction() as session:
        for order in await session.scalars(select(Order).where(Order.id.in_(ids))):
            assert order.checkout_time is not None
            order.checkout_time -= timedelta(minutes=16)
            order.escalation_due_at = order.checkout_time

    async def accept(process: Process, order_id: int) -> str:
        try:
            await order_service.act_as_shop(process.outbox, kit.shop_id, order_id, Action.CONFIRM)
        except BusinessError as exc:
            return exc.message
        return "accepted"

    now = utcnow()
    results = await asyncio.gather(
        escalation.sweep(one.outbox, DEFAULTS, now=now, batch=3),
        *(accept(two if i % 2 else one, order_id) for i, order_id in enumerate(ids)),
        escalation.sweep(two.outbox, DEFAULTS, now=now, batch=3),
    )
    tallies = [results[0], results[-1]]
    answers = dict(zip(ids, results[1:-1], strict=True))
    cancelled = sum(t.cancelled for t in tallies if isinstance(t, escalation.Tally))
    accepted = [i for i, a in answers.items() if a == "accepted"]
    lost = [i for i, a in answers.items() if a != "accepted"]
    assert {answers[i] for i in lost} <= {AUTO_CANCELLED_MESSAGE}, answers
    assert len(accepted) + cancelled == len(ids), (len(accepted), cancelled)
    assert len(lost) == cancelled

    stored = await rows(one.database, ids)
    async with one.database.sessions() as session:
        alerts = {
            a.order_id: a
            for a in await session.scalars(select(AlertRow).where(AlertRow.order_id.in_(ids)))
        }
    for order_id in accepted:
        order = stored[order_id]
        assert (order.status, order.cancel_reason) == (OrderStatus.CONFIRMED, None)
        assert alerts[order_id].handled_action == "confirm"
    for order_id in lost:
        order = stored[order_id]
        assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, AUTO_CANCEL_REASON)
        assert alerts[order_id].handled_action == "expired"
    # Whoever won, nothing is left for the ladder.
    assert (await escalation.sweep(one.outbox, DEFAULTS, now=now)).looked == 0


# -- two real server processes --------------------------------------------------

WARN, NOTIFY, REPEAT, CANCEL = 1.0, 2.0, 2.0, 6.0


@pytest.fixture
def pair_settings() -> dict[str, str]:
    return {
        "escalation_warn_seconds": str(WARN),
        "escalation_notify_seconds": str(NOTIFY),
        "escalation_notify_repeat_seconds": str(REPEAT),
        "escalation_auto_cancel_minutes": str(CANCEL / 60),
        "escalation_check_seconds": "0.2",
        "webhook_allow_private": "true",
        "webhook_poll_seconds": "0.2",
    }


async def listen(ws: Any, into: list[dict[str, Any]]) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in ws:
            into.append(orjson.loads(message))


@pytest.mark.e2e
async def test_two_processes_take_every_step_once_per_order_even_after_both_were_down(
    pair: list[Server], apis: list[Api], receiver: Receiver
) -> None:
    first = pair[0]
    kit = await new_shop(first.database_url)
    merchant = await apis[0].merchant_token(kit.username)
    # The people outside hear of each step once too: a signed webhook per step.
    endpoint = await apis[1].ok(
        "POST",
        "/admin/webhooks",
        token=merchant,
        header="token",
        json={"url": receiver.url(), "events": ["order.unaccepted", "order.auto_cancelled"]},
    )
    receiver.secret("/hook", endpoint["secret"])
    customer, address = await apis[1].new_customer()
    heard: list[list[dict[str, Any]]] = [[], []]
    async with (
        websockets.connect(pair[0].ws_url(merchant, sid="a", protocol="2")) as a,
        websockets.connect(pair[1].ws_url(merchant, sid="b", protocol="2")) as b,
    ):
        listeners = [
            asyncio.create_task(listen(ws, into)) for ws, into in ((a, heard[0]), (b, heard[1]))
        ]
        for frames in heard:
            await wait_until(lambda frames=frames: any(f["type"] == "synced" for f in frames))
        orders = []
        for i in range(6):
            api = apis[i % 2]
            order = await api.place_order(customer, address, [kit.dish_ids[0]])
            await api.pay(customer, order["orderNumber"])
            orders.append(order["id"])

        def expired(frames: list[dict[str, Any]]) -> set[int]:
            return {
                f["orderId"] for f in frames if f["type"] == "handled" and f["action"] == "expired"
            }

        for frames in heard:
            await wait_until(
                lambda frames=frames: expired(frames) >= set(orders),
                CANCEL + 30,
                what="every auto-cancel",
            )
        await asyncio.sleep(0.5)  # a duplicate, if any, would come now
    await asyncio.gather(*listeners)

    db = Database(first.database_url)
    try:
        stored = await rows(db, orders)
    finally:
        await db.dispose()

    def hooks(order_id: int, kind: str) -> list[str]:
        return [
            r.message_id
            for r in receiver.delivered()
            if r.body["type"] == kind and r.body["data"]["orderId"] == order_id
        ]

    def all_came() -> bool:
        return all(
            hooks(o, "order.auto_cancelled")
            and len(hooks(o, "order.unaccepted")) >= stored[o].escalation_notified
            for o in orders
        )

    await wait_until(all_came, what="a webhook for every step")
    await asyncio.sleep(0.5)  # a duplicate, if any, would come now
    assert all(r.verified for r in receiver.received)
    ids = [r.message_id for r in receiver.received]
    assert len(ids) == len(set(ids)), "a webhook came twice"
    for order_id in orders:
        assert len(hooks(order_id, "order.unaccepted")) == stored[order_id].escalation_notified
        assert len(hooks(order_id, "order.auto_cancelled")) == 1
    for frames in heard:
        for order_id in orders:
            mine = [f for f in frames if f.get("orderId") == order_id]
            levels = [f["level"] for f in mine if f["type"] == "escalation"]
            row = stored[order_id]
            assert levels.count(1) == 1, (order_id, levels)
            assert levels.count(2) == row.escalation_notified >= 1, (order_id, levels)
            assert [f["action"] for f in mine if f["type"] == "handled"] == ["expired"]
            assert (row.status, row.cancel_reason) == (6, AUTO_CANCEL_REASON)
    # The same processes, stopped and started again (one cluster for both checks).
    await down_and_up(pair, apis)


async def down_and_up(pair: list[Server], apis: list[Api]) -> None:
    """Steps that fell due while both processes were down are taken once at start."""
    first = pair[0]
    kit = await new_shop(first.database_url)
    merchant = await apis[0].merchant_token(kit.username)
    await apis[0].ok(
        "PUT",
        "/admin/shop/escalation",
        token=merchant,
        header="token",
        json={
            "warnSeconds": 60,
            "notifySeconds": 120,
            "notifyRepeatSeconds": 300,
            "autoCancelMinutes": 10,
        },
    )
    customer, address = await apis[1].new_customer()
    orders = []
    for i in range(6):
        order = await apis[i % 2].place_order(customer, address, [kit.dish_ids[0]])
        await apis[i % 2].pay(customer, order["orderNumber"])
        orders.append(order["id"])
    for server in pair:
        server.stop()
    # While both are down: half the orders pass their first notification, half
    # their auto-cancel.
    db = Database(first.database_url)
    try:
        async with db.transaction() as session:
            for i, order in enumerate(
                await session.scalars(select(Order).where(Order.id.in_(orders)))
            ):
                assert order.checkout_time is not None
                order.checkout_time -= timedelta(seconds=200 if i % 2 else 700)
                order.escalation_due_at = order.checkout_time
        for server in pair:
            start(server)
        started = time.monotonic()

        async def settled() -> bool:
            stored = await rows(db, orders)
            return all(o.status == 6 or o.escalation_notified for o in stored.values())

        await wait_until(settled, what="the steps at start")
        # Within the first sweeps after start (a busy machine may delay them).
        assert time.monotonic() - started < 10
        await asyncio.sleep(1)  # two more sweeps of each process: nothing more
        stored = await rows(db, orders)
    finally:
        await db.dispose()
    outcomes = sorted(
        (o.status, o.escalation_level, o.escalation_notified) for o in stored.values()
    )
    assert outcomes == [(2, 2, 1)] * 3 + [(6, 0, 0)] * 3, outcomes
