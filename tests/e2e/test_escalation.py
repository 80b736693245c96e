"""End to end: the escalation ladder with settings in seconds on a real server. A paid
order nobody accepts warns the shop's protocol-2 consoles, then notifies, then is
cancelled with a reason the customer sees and ``expired`` for the consoles; other
orders are untouched, a late acceptance is told why it lost, a shop's own ladder
is read and changed (bad input refused), and a step that fell due while the server
was down is taken once at start."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from sqlalchemy import select, update

from orderbell.domain.escalation import AUTO_CANCEL_REASON, AUTO_CANCELLED_MESSAGE
from orderbell.storage.database import Database
from orderbell.storage.tables import Order
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, running_server, start

WARN, NOTIFY, REPEAT, CANCEL = 1.0, 2.0, 2.0, 6.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        Path(tmp_path_factory.mktemp("ladder")),
        escalation_warn_seconds=str(WARN),
        escalation_notify_seconds=str(NOTIFY),
        escalation_notify_repeat_seconds=str(REPEAT),
        escalation_auto_cancel_minutes=str(CANCEL / 60),
        escalation_check_seconds="0.2",
    ) as srv:
        yield srv


@dataclass
class Listening:
    """Every frame a protocol-2 console gets, with the monotonic time it came."""

    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def of(self, kind: str, order_id: int | None = None) -> list[tuple[float, dict[str, Any]]]:
        return [
            (t, f)
            for t, f in self.frames
            if f.get("type") == kind and (order_id is None or f.get("orderId") == order_id)
        ]


async def listen(ws: Any, into: Listening) -> None:
    # Ends when the test closes the connection.
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in ws:
            into.frames.append((time.monotonic(), orjson.loads(message)))


async def order_row(database_url: str, order_id: int) -> Order:
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            row = await session.get(Order, order_id)
            assert row is not None
            return row
    finally:
        await db.dispose()


async def paid_order(
    api: Api, customer: str, address: int, dish: int
) -> tuple[dict[str, Any], float]:
    """An order placed and paid now; its submit data, and the monotonic time of payment."""
    order = await api.place_order(customer, address, [dish])
    await api.pay(customer, order["orderNumber"])
    return order, time.monotonic()


async def test_an_unaccepted_order_is_warned_notified_then_cancelled_alone(
    server: Server, api: Api
) -> None:
    from tests.support.servers import new_shop

    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    heard = Listening()
    async with websockets.connect(server.ws_url(merchant, protocol="2")) as ws:
        listener = asyncio.create_task(listen(ws, heard))
        await wait_until(lambda: heard.of("synced"), what="the console is live")
        waiting, paid_at = await paid_order(api, customer, address, kit.dish_ids[0])
        accepted, _ = await paid_order(api, customer, address, kit.dish_ids[1])
        await api.ok(
            "PUT",
            "/admin/order/confirm",
            token=merchant,
            header="token",
            json={"id": accepted["id"]},
        )
        # Paid once the first has been notified: still waiting when the first is cancelled.
        await wait_until(lambda: heard.of("escalation", waiting["id"])[1:], what="a notification")
        late, late_paid_at = await paid_order(api, customer, address, kit.dish_ids[0])
        await wait_until(
            lambda: [f for _, f in heard.of("handled", waiting["id"]) if f["action"] == "expired"],
            CANCEL + 20,
            what="the auto-cancel",
        )
        # The later order is still waiting when the first is cancelled.
        late_row = await order_row(server.database_url, late["id"])
        assert late_row.status == 2, "the auto-cancel touched only its own order"

    await listener
    steps = heard.of("escalation", waiting["id"])
    levels = [f["level"] for _, f in steps]
    assert levels[0] == 1 and set(levels[1:]) == {2}, levels
    row = await order_row(server.database_url, waiting["id"])
    assert (row.status, row.pay_status, row.cancel_reason) == (6, 2, AUTO_CANCEL_REASON)
    assert row.escalation_level == 2 and row.escalation_notified == len(levels) - 1 >= 1
    assert row.escalation_due_at is None
    # Each step at its time (the sweep looks every 0.2 s; the machine may be busy).
    offsets = [t - paid_at for t, _ in steps]
    due = [WARN, NOTIFY, NOTIFY + REPEAT][: len(offsets)]
    for offset, at in zip(offsets, due, strict=True):
        assert at - 0.3 <= offset <= at + 3, (offsets, due)
    first = steps[0][1]
    assert first == {
        "type": "escalation",
        "shopId": kit.shop_id,
        "orderId": waiting["id"],
        "orderNumber": waiting["orderNumber"],
        "level": 1,
        "waitedSeconds": first["waitedSeconds"],
        "autoCancelAt": first["autoCancelAt"],
    }
    assert first["waitedSeconds"] in (1, 2, 3, 4)
    cancel_at = datetime.fromisoformat(first["autoCancelAt"].replace("Z", "+00:00"))
    assert row.checkout_time is not None
    expected = row.checkout_time.replace(tzinfo=UTC) + timedelta(seconds=CANCEL)
    assert abs(cancel_at - expected) < timedelta(milliseconds=1)
    cancelled = [t for t, f in heard.of("handled", waiting["id"]) if f["action"] == "expired"]
    assert len(cancelled) == 1 and CANCEL - 0.3 <= cancelled[0] - paid_at <= CANCEL + 3
    # The accepted order never escalated; the later one only had its own steps.
    assert heard.of("escalation", accepted["id"]) == []
    assert all(t - late_paid_at >= WARN - 0.3 for t, _ in heard.of("escalation", late["id"]))

    # The customer sees why; the shop's late acceptance is told why it lost.
    detail = await api.ok("GET", f"/user/order/orderDetail/{waiting['id']}", token=customer)
    assert (detail["status"], detail["payStatus"]) == (6, 2)
    assert detail["cancelReason"] == AUTO_CANCEL_REASON
    assert "商家未及时接单" in detail["cancelReason"]
    assert "did not accept in time" in detail["cancelReason"]
    refused = await api.call(
        "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": waiting["id"]}
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["msg"] == AUTO_CANCELLED_MESSAGE
    shop_view = await api.ok(
        "GET", f"/admin/order/details/{waiting['id']}", token=merchant, header="token"
    )
    assert shop_view["escalationLevel"] == 2
    accepted_view = await api.ok(
        "GET", f"/admin/order/details/{accepted['id']}", token=merchant, header="token"
    )
    assert (accepted_view["status"], accepted_view["escalationLevel"]) == (3, 0)
    metrics = (await api.call("GET", "/metrics")).text
    assert "orderbell_orders_auto_cancelled_total" in metrics


def ladder_path() -> str:
    return "/admin/shop/escalation"


async def test_a_shop_reads_and_changes_its_ladder_and_bad_input_changes_nothing(
    server: Server, api: Api
) -> None:
    from tests.support.servers import new_shop

    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)

    async def get() -> dict[str, Any]:
        data: dict[str, Any] = await api.ok("GET", ladder_path(), token=merchant, header="token")
        return data

    defaults = {
        "warnSeconds": 1,
        "notifySeconds": 2,
        "notifyRepeatSeconds": 2,
        "autoCancelMinutes": 0.1,
    }
    assert await get() == {**defaults, "own": [], "defaults": defaults}

    changed = await api.ok(
        "PUT",
        ladder_path(),
        token=merchant,
        header="token",
        json={"warnSeconds": 30, "notifySeconds": 120, "autoCancelMinutes": 10},
    )
    assert changed == await get()
    assert changed == {
        "warnSeconds": 30,
        "notifySeconds": 120,
        "notifyRepeatSeconds": 2,
        "autoCancelMinutes": 10,
        "own": ["warnSeconds", "notifySeconds", "autoCancelMinutes"],
        "defaults": defaults,
    }

    bad_bodies: list[Any] = [
        {"warnSeconds": 1.5},
        {"warnSeconds": "30"},
        {"warnSeconds": True},
        {"warnSeconds": 0},
        {"notifyRepeatSeconds": 5},
        {"autoCancelMinutes": -1},
        {"autoCancelMinutes": 100000},
        {"warnSecond": 30},
        [30],
    ]
    for body in bad_bodies:
        response = await api.call("PUT", ladder_path(), token=merchant, header="token", json=body)
        answer = response.json()
        assert response.status_code == 422, (body, answer)
        assert answer["code"] == 0 and answer["msg"] and answer["data"]["errors"], answer
    # Steps out of order: a rule of the shop, said field by field.
    for body, field_name in (
        ({"warnSeconds": 200}, "warnSeconds"),
        ({"notifySeconds": 900}, "notifySeconds"),
        ({"autoCancelMinutes": 1}, "notifySeconds"),
    ):
        response = await api.call("PUT", ladder_path(), token=merchant, header="token", json=body)
        answer = response.json()
        assert response.status_code == 400, (body, answer)
        assert [e["field"] for e in answer["data"]["errors"]] == [field_name], answer
        assert field_name in answer["msg"]
    assert await get() == changed, "refused changes left the ladder as it was"

    # null goes back to the default; a field left out stays.
    reset = await api.ok(
        "PUT", ladder_path(), token=merchant, header="token", json={"warnSeconds": None}
    )
    assert reset["warnSeconds"] == 1 and reset["notifySeconds"] == 120
    assert reset["own"] == ["notifySeconds", "autoCancelMinutes"]
    cleared = await api.ok(
        "PUT",
        ladder_path(),
        token=merchant,
        header="token",
        json={"notifySeconds": None, "autoCancelMinutes": None},
    )
    assert cleared == {**defaults, "own": [], "defaults": defaults}
    unauthenticated = await api.call("GET", ladder_path())
    assert unauthenticated.status_code == 401
    # The shop's status route next to it still works.
    assert await api.ok("GET", "/admin/shop/status", token=merchant, header="token") == 1


async def test_changing_the_ladder_reschedules_the_orders_waiting_now(
    server: Server, api: Api
) -> None:
    from tests.support.servers import new_shop

    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    await api.ok(
        "PUT",
        ladder_path(),
        token=merchant,
        header="token",
        json={"warnSeconds": 3600, "notifySeconds": 3600, "autoCancelMinutes": 0},
    )
    heard = Listening()
    async with websockets.connect(server.ws_url(merchant, protocol="2")) as ws:
        listener = asyncio.create_task(listen(ws, heard))
        await wait_until(lambda: heard.of("synced"), what="the console is live")
        order, _ = await paid_order(api, customer, address, kit.dish_ids[0])
        # Well past the defaults' warning: this shop's ladder holds it back.
        await wait_until(
            lambda: order_looked_at(server.database_url, order["id"]), what="a first look"
        )
        await asyncio.sleep(WARN + 0.5)
        assert heard.of("escalation") == []
        changed_at = time.monotonic()
        await api.ok("PUT", ladder_path(), token=merchant, header="token", json={"warnSeconds": 1})
        await wait_until(lambda: heard.of("escalation"), 10, what="the warning")
        assert time.monotonic() - changed_at < 3
    await listener
    assert [f["level"] for _, f in heard.of("escalation")] == [1]
    assert heard.of("escalation")[0][1]["autoCancelAt"] is None


async def order_looked_at(database_url: str, order_id: int) -> bool:
    row = await order_row(database_url, order_id)
    # Looked at by the sweep: its next look is no longer the payment time.
    return row.escalation_due_at is not None and row.escalation_due_at != row.checkout_time


async def test_steps_due_while_the_server_was_down_are_taken_once_at_start(
    server: Server, api: Api
) -> None:
    from tests.support.servers import new_shop

    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    # A ladder of minutes, so that nothing is due before the server stops.
    await api.ok(
        "PUT",
        ladder_path(),
        token=merchant,
        header="token",
        json={
            "warnSeconds": 60,
            "notifySeconds": 120,
            "notifyRepeatSeconds": 300,
            "autoCancelMinutes": 10,
        },
    )
    customer, address = await api.new_customer()
    notify_me, _ = await paid_order(api, customer, address, kit.dish_ids[0])
    cancel_me, _ = await paid_order(api, customer, address, kit.dish_ids[1])
    server.stop()
    try:
        # While it is down, time passes: the first order is past its warning and
        # first notification, the second past everything, auto-cancel included.
        db = Database(server.database_url)
        try:
            async with db.transaction() as session:
                for order_id, back in ((notify_me["id"], 200), (cancel_me["id"], 700)):
                    row = await session.get(Order, order_id)
                    assert row is not None and row.checkout_time is not None
                    row.checkout_time -= timedelta(seconds=back)
                    row.escalation_due_at = row.checkout_time
        finally:
            await db.dispose()
    finally:
        start(server)
    await wait_until(
        lambda: order_status(server.database_url, cancel_me["id"], 6), 10, what="the cancel"
    )
    await wait_until(
        lambda: order_notified(server.database_url, notify_me["id"]), 10, what="the notification"
    )
    notified = await order_row(server.database_url, notify_me["id"])
    assert (notified.status, notified.escalation_level, notified.escalation_notified) == (2, 2, 1)
    cancelled = await order_row(server.database_url, cancel_me["id"])
    # Cancelled at once, without the notifications it missed.
    assert (cancelled.escalation_level, cancelled.escalation_notified) == (0, 0)
    assert cancelled.cancel_reason == AUTO_CANCEL_REASON
    db = Database(server.database_url)
    try:
        async with db.transaction() as session:
            # The first order is taken off the ladder so later tests meet it no more.
            await session.execute(
                update(Order).where(Order.id == notify_me["id"]).values(escalation_due_at=None)
            )
            ids = list(await session.scalars(select(Order.id).where(Order.shop_id == kit.shop_id)))
        assert sorted(ids) == sorted([notify_me["id"], cancel_me["id"]])
    finally:
        await db.dispose()


async def order_status(database_url: str, order_id: int, status: int) -> bool:
    return (await order_row(database_url, order_id)).status == status


async def order_notified(database_url: str, order_id: int) -> bool:
    return (await order_row(database_url, order_id)).escalation_notified >= 1
