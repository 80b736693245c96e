"""Reminder spam: the limits hold under a burst, across server processes, and a
refusal says when the next reminder is allowed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.security.attack import broken_invariants, refused, rows, serve
from tests.support.frames import collect, silence
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, new_shop, second_process, start


async def _paid_order(api: Api, server: Server) -> tuple[str, dict[str, Any], str]:
    """(customer token, paid order, merchant token) in a fresh shop."""
    kit = await new_shop(server.database_url)
    customer, address = await api.new_customer()
    order = await api.place_order(customer, address, [kit.dish_ids[0]])
    await api.pay(customer, str(order["orderNumber"]))
    return customer, order, await api.merchant_token(kit.username)


def _reminders_stored(server: Server, order_id: int) -> int:
    return int(
        rows(server, "SELECT COUNT(*) FROM alert WHERE order_id = ? AND type = 2", order_id)[0][0]
    )


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def test_fifty_reminders_in_a_second_raise_one_alert(server: Server, api: Api) -> None:
    customer, order, merchant = await _paid_order(api, server)
    # since=1 (the new-order alert): a reminder raised before the server
    # registered the console still reaches it, by replay.
    async with websockets.connect(server.ws_url(merchant, since="1")) as console:
        assert await silence(console, 0.2) == []
        path = f"/user/order/reminder/{order['id']}"
        started = asyncio.get_running_loop().time()
        responses = await asyncio.gather(
            *(api.call("GET", path, token=customer) for _ in range(50))
        )
        # A generous budget: 50 small requests, on a machine that may be busy.
        assert asyncio.get_running_loop().time() - started < 30
        frames = await collect(console, 2, within=2)
        assert await silence(console, 0.5) == []

    granted = [r for r in responses if r.status_code == 200]
    assert len(granted) == 1, [r.status_code for r in responses]
    allowed = granted[0].json()["data"]
    assert allowed["remindersLeft"] == 2
    next_allowed = _when(allowed["nextAllowedAt"])
    assert 290 <= (next_allowed - datetime.now(UTC)).total_seconds() <= 301

    for response in responses:
        if response.status_code == 200:
            continue
        body = refused(response, 429, "again in")
        wait = int(response.headers["retry-after"])
        assert 1 <= wait <= 300 and body["data"]["retryAfter"] == wait
        assert _when(body["data"]["nextAllowedAt"]) == next_allowed
        assert body["data"]["remindersLeft"] == 2

    # On the console and in the alert log: one reminder, and the new-order alert.
    assert [(f["type"], f["orderId"]) for f in frames] == [(2, order["id"])]
    assert _reminders_stored(server, int(order["id"])) == 1


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Reminders one second after payment at the earliest, one a second, three in all."""
    with serve(
        Path(tmp_path_factory.mktemp("quick")),
        reminder_delay_seconds="1",
        reminder_interval_seconds="1",
        reminder_max_per_order="3",
    ) as srv:
        yield srv


async def _remind_once_allowed(api: Api, path: str, customer: str, iso: str) -> dict[str, Any]:
    """Ask for a reminder until it is granted (the server's clock decides when);
    until then each answer is the refusal that names ``iso`` as the next moment."""
    assert (_when(iso) - datetime.now(UTC)).total_seconds() <= 1.5

    async def granted() -> dict[str, Any] | None:
        response = await api.call("GET", path, token=customer)
        if response.status_code == 200:
            data: dict[str, Any] = response.json()["data"]
            return data
        assert refused(response, 429, "again in")["data"]["nextAllowedAt"] == iso
        return None

    return await wait_until(granted, interval=0.1, what=f"a reminder allowed at {iso}")


async def _refusal_once(api: Api, path: str, customer: str, status: int, word: str) -> Any:
    """Ask for a reminder until the refusal is no longer "too soon"; that refusal."""

    async def answered() -> Any:
        response = await api.call("GET", path, token=customer)
        assert response.status_code in (status, 429), response.text
        if response.status_code == status and word in response.json()["msg"]:
            return response
        assert response.status_code == 429 and "again in" in response.json()["msg"]
        return None

    return await wait_until(answered, interval=0.1, what=f"a refusal saying {word!r}")


async def test_delay_interval_and_count_are_kept_and_explained(quick: Server) -> None:
    api = Api(quick)
    try:
        customer, order, _ = await _paid_order(api, quick)
        path = f"/user/order/reminder/{order['id']}"

        early = refused(await api.call("GET", path, token=customer), 429, "paid", "again in")
        assert early["data"]["retryAfter"] == 1 and early["data"]["remindersLeft"] == 3
        next_allowed = early["data"]["nextAllowedAt"]

        for left in (2, 1):
            allowed = await _remind_once_allowed(api, path, customer, next_allowed)
            assert allowed["remindersLeft"] == left
            response = await api.call("GET", path, token=customer)
            assert response.headers["retry-after"] == "1"
            soon = refused(response, 429, "just now", "again in 1 s")
            assert soon["data"]["nextAllowedAt"] == allowed["nextAllowedAt"]
            next_allowed = allowed["nextAllowedAt"]

        last = await _remind_once_allowed(api, path, customer, next_allowed)
        assert last == {"remindersLeft": 0, "nextAllowedAt": None}
        response = await _refusal_once(api, path, customer, 429, "3 times")
        done = refused(response, 429, "3 times", "most allowed")
        assert "retry-after" not in response.headers, "waiting will not help"
        assert done["data"] == {"retryAfter": None, "nextAllowedAt": None, "remindersLeft": 0}
        assert _reminders_stored(quick, int(order["id"])) == 3
    finally:
        await api.aclose()


async def test_no_reminder_for_an_order_that_ended(quick: Server) -> None:
    api = Api(quick)
    try:
        customer, order, merchant = await _paid_order(api, quick)
        await api.ok(
            "PUT",
            "/admin/order/cancel",
            token=merchant,
            header="token",
            json={"id": order["id"], "cancelReason": "sold out"},
        )
        path = f"/user/order/reminder/{order['id']}"
        # Once the first reminder would be allowed, the only reason left is the end.
        response = await _refusal_once(api, path, customer, 400, "cancelled")
        refused(response, 400, "cancelled")
        assert _reminders_stored(quick, int(order["id"])) == 0
    finally:
        await api.aclose()


async def test_the_count_holds_across_server_processes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = Path(tmp_path_factory.mktemp("pair"))
    with serve(tmp, reminder_interval_seconds="0", reminder_max_per_order="3") as first:
        second = second_process(first, tmp)
        start(second)
        apis = [Api(first), Api(second)]
        try:
            customer, order, _ = await _paid_order(apis[0], first)
            path = f"/user/order/reminder/{order['id']}"
            responses = await asyncio.gather(
                *(apis[i % 2].call("GET", path, token=customer) for i in range(30))
            )
        finally:
            for api in apis:
                await api.aclose()
            second.stop()
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 3 + [429] * 27
        for response in responses:
            if response.status_code == 429:
                refused(response, 429, "most allowed")
        assert _reminders_stored(first, int(order["id"])) == 3
        assert broken_invariants(first, max_reminders=3) == {}
