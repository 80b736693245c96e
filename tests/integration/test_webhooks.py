"""Two server processes on PostgreSQL + Redis deliver webhooks: every event once.

Both dispatchers claim due rows at once (each poked by its own commits,
each polling for the other's): ``FOR UPDATE SKIP LOCKED`` and the lease
must leave each row to one of them.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.support.polling import wait_until
from tests.support.receiver import Receiver
from tests.support.servers import Api, Server, new_shop

ORDERS = 40


@pytest.fixture
def pair_settings() -> dict[str, str]:
    return {
        "webhook_allow_private": "true",
        "webhook_poll_seconds": "0.1",
    }


async def test_concurrent_payments_on_two_processes_deliver_every_event_once(
    pair: list[Server], apis: list[Api], receiver: Receiver
) -> None:
    kit = await new_shop(pair[0].database_url)
    merchant = await apis[0].merchant_token(kit.username)
    endpoint = await apis[0].ok(
        "POST",
        "/admin/webhooks",
        token=merchant,
        header="token",
        json={"url": receiver.url(), "events": ["order.paid", "order.accepted"]},
    )
    receiver.secret("/hook", endpoint["secret"])
    customers = [await apis[i % 2].new_customer() for i in range(4)]

    async def place(i: int) -> tuple[str, str]:
        token, address = customers[i % len(customers)]
        order = await apis[i % 2].place_order(token, address, kit.dish_ids[:1])
        return token, str(order["orderNumber"])

    placed = []
    for start in range(0, ORDERS, len(customers)):
        # One order per customer at a time: a customer has one cart.
        placed += await asyncio.gather(*(place(i) for i in range(start, start + len(customers))))
    # Every payment at once, half through each process.
    await asyncio.gather(
        *(apis[i % 2].pay(token, number) for i, (token, number) in enumerate(placed))
    )

    await wait_until(lambda: len(receiver.delivered()) >= ORDERS, what=f"{ORDERS} deliveries")
    # Any late duplicate would come within the poll interval and the lease
    # of a row claimed twice; the listing says every row is settled once.
    page = await wait_until(
        lambda: _all_delivered(apis[1], merchant),
        what="every delivery settled",
    )
    got = receiver.at("/hook")
    assert all(r.verified for r in got)
    twice = [m for m, n in Counter(r.message_id for r in got).items() if n > 1]
    assert twice == [], "no event was delivered twice"
    assert len(got) == ORDERS
    assert {r.body["data"]["orderNumber"] for r in got} == {n for _, n in placed}
    assert {r.body["type"] for r in got} == {"order.paid"}
    assert page["total"] == ORDERS
    assert all(d["attempts"] == 1 for d in page["records"])


async def _all_delivered(api: Api, merchant: str) -> dict[str, object] | None:
    page: dict[str, object] = await api.ok(
        "GET",
        "/admin/webhooks/deliveries?pageSize=100&state=delivered",
        token=merchant,
        header="token",
    )
    return page if page["total"] == ORDERS else None
