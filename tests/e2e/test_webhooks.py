"""End to end: webhooks from a real server to a real receiver that checks every
signature with the ``standardwebhooks`` verifier.

The server runs the retry schedule 50 times faster (first retry after about
0.06 s, then 0.4 s, 1.2 s), attempts time out after 1 s, and an endpoint that
fails for 3 s is disabled, so that every path here takes seconds.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from sqlalchemy import func, select

from orderbell.storage.database import Database
from orderbell.storage.tables import Outgoing, WebhookEndpoint
from tests.support.polling import wait_until
from tests.support.receiver import Receiver
from tests.support.servers import Api, Server, ShopKit, new_shop, running_server

ALL_EVENTS = [
    "order.paid",
    "order.accepted",
    "order.unaccepted",
    "order.auto_cancelled",
    "reminder.created",
    "shop.status_changed",
    "webhook.test",
]
DISABLE_AFTER_SECONDS = 3.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        Path(tmp_path_factory.mktemp("webhooks")),
        webhook_allow_private="true",
        webhook_retry_scale="0.02",
        webhook_poll_seconds="0.2",
        webhook_timeout_seconds="1",
        webhook_disable_after_hours=str(DISABLE_AFTER_SECONDS / 3600),
        webhook_max_in_flight_per_endpoint="4",
    ) as srv:
        yield srv


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server)
    yield client
    await client.aclose()


async def merchant_of(api: Api, kit: ShopKit) -> str:
    return await api.merchant_token(kit.username)


async def add_endpoint(
    api: Api,
    merchant: str,
    receiver: Receiver,
    path: str,
    events: list[str],
) -> dict[str, Any]:
    data: dict[str, Any] = await api.ok(
        "POST",
        "/admin/webhooks",
        token=merchant,
        header="token",
        json={"url": receiver.url(path), "events": events},
    )
    assert data["secret"].startswith("whsec_")
    receiver.secret(path, data["secret"])
    return data


async def paid_order(api: Api, kit: ShopKit, customer: tuple[str, int]) -> dict[str, Any]:
    token, address = customer
    order = await api.place_order(token, address, kit.dish_ids[:1])
    await api.pay(token, order["orderNumber"])
    return order


async def delivery(api: Api, merchant: str, delivery_id: int) -> dict[str, Any]:
    data: dict[str, Any] = await api.ok(
        "GET", f"/admin/webhooks/deliveries/{delivery_id}", token=merchant, header="token"
    )
    return data


async def test_every_event_reaches_the_endpoint_signed(
    server: Server, api: Api, receiver: Receiver
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await merchant_of(api, kit)
    path = f"/all-{kit.shop_id}"
    # Added while the server runs: it takes effect at once.
    endpoint = await add_endpoint(api, merchant, receiver, path, ALL_EVENTS)
    listed = await api.ok("GET", "/admin/webhooks", token=merchant, header="token")
    assert [(e["id"], e["enabled"]) for e in listed] == [(endpoint["id"], True)]
    assert "secret" not in listed[0]

    customer = await api.new_customer()
    order = await paid_order(api, kit, customer)
    await api.ok("GET", f"/user/order/reminder/{order['id']}", token=customer[0])
    await api.ok(
        "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": order["id"]}
    )
    await api.ok("PUT", "/admin/shop/0", token=merchant, header="token")
    test = await api.ok(
        "POST", f"/admin/webhooks/{endpoint['id']}/test", token=merchant, header="token"
    )

    wanted = {
        "order.paid",
        "reminder.created",
        "order.accepted",
        "shop.status_changed",
        "webhook.test",
    }
    await wait_until(
        lambda: {r.body["type"] for r in receiver.delivered(path)} >= wanted,
        what=f"every event at {path}",
    )
    got = receiver.at(path)
    assert all(r.verified for r in got), "every request verifies with the endpoint's secret"
    assert len(got) == len(wanted) == len({r.message_id for r in got})
    by_type = {r.body["type"]: r for r in got}
    for received in got:
        assert received.body["id"] == received.message_id
        assert received.body["timestamp"].endswith("Z")
    assert by_type["order.paid"].body["data"] == {
        "orderId": order["id"],
        "orderNumber": order["orderNumber"],
        "shopId": kit.shop_id,
        "amount": by_type["order.paid"].body["data"]["amount"],
    }
    assert by_type["reminder.created"].body["data"]["orderNumber"] == order["orderNumber"]
    assert by_type["reminder.created"].body["data"]["reminder"] == 1
    assert by_type["order.accepted"].body["data"]["orderId"] == order["id"]
    assert by_type["order.accepted"].body["data"]["waitedSeconds"] >= 0
    status = by_type["shop.status_changed"].body["data"]
    assert (status["from"], status["to"], status["takingOrders"]) == ("open", "closed", False)
    assert by_type["webhook.test"].message_id == test["messageId"]
    assert by_type["webhook.test"].body["data"]["endpointId"] == endpoint["id"]

    page = await api.ok("GET", "/admin/webhooks/deliveries", token=merchant, header="token")
    assert page["total"] == len(wanted)
    assert {d["eventType"] for d in page["records"]} == wanted
    for shown in page["records"]:
        assert shown["state"] == "delivered" and shown["attempts"] == 1
        assert [a["status"] for a in shown["attemptList"]] == [204]
    only_paid = await api.ok(
        "GET",
        "/admin/webhooks/deliveries?eventType=order.paid&state=delivered",
        token=merchant,
        header="token",
    )
    assert [d["eventType"] for d in only_paid["records"]] == ["order.paid"]


async def test_a_failing_receiver_gets_the_event_once_it_answers_with_the_same_id(
    server: Server, api: Api, receiver: Receiver
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await merchant_of(api, kit)
    path = f"/flaky-{kit.shop_id}"
    endpoint = await add_endpoint(api, merchant, receiver, path, ["order.paid"])
    receiver.fail(3, 500, path)
    order = await paid_order(api, kit, await api.new_customer())

    await wait_until(lambda: receiver.delivered(path), what="the fourth attempt")
    got = receiver.at(path)
    assert [r.answered for r in got] == [500, 500, 500, 204]
    assert len({r.message_id for r in got}) == 1, "the same webhook-id on every attempt"
    assert all(r.verified for r in got)
    assert got[0].body["data"]["orderNumber"] == order["orderNumber"]
    # The retries come after 0.06 s, 0.4 s and 1.2 s (jittered).
    assert got[3].at - got[0].at < 3.0

    [shown] = (
        await api.ok(
            "GET",
            f"/admin/webhooks/deliveries?endpointId={endpoint['id']}",
            token=merchant,
            header="token",
        )
    )["records"]
    assert (shown["state"], shown["attempts"], shown["messageId"]) == (
        "delivered",
        4,
        got[0].message_id,
    )
    assert [a["status"] for a in shown["attemptList"]] == [500, 500, 500, 204]
    assert shown["attemptList"][0]["error"] == "answered 500"

    # Sent again by hand: the same webhook-id once more.
    await api.ok(
        "POST",
        f"/admin/webhooks/deliveries/{shown['id']}/resend",
        token=merchant,
        header="token",
    )
    await wait_until(lambda: len(receiver.delivered(path)) == 2, what="the resent delivery")
    assert {r.message_id for r in receiver.delivered(path)} == {got[0].message_id}
    again = await wait_until(
        lambda: _settled(api, merchant, shown["id"]), what="the resend settled"
    )
    assert (again["state"], again["attempts"]) == ("delivered", 5)


async def test_a_receiver_that_refuses_connections_gets_the_event_once_it_is_up(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await merchant_of(api, kit)
    later = Receiver()  # its port, nothing listening yet
    try:
        endpoint = await add_endpoint(api, merchant, later, "/hook", ["webhook.test"])
        queued = await api.ok(
            "POST", f"/admin/webhooks/{endpoint['id']}/test", token=merchant, header="token"
        )

        async def refused_three_times() -> bool:
            shown = await delivery(api, merchant, queued["id"])
            return int(shown["attempts"]) >= 3

        await wait_until(refused_three_times, what="three refused attempts")
        later.start()
        await wait_until(lambda: later.delivered("/hook"), what="the delivery once up")
        [got] = later.at("/hook")
        assert got.verified and got.message_id == queued["messageId"]
        shown = await wait_until(
            lambda: _settled(api, merchant, queued["id"]), what="the delivery settled"
        )
        assert shown["state"] == "delivered" and shown["attempts"] == 4
        errors = [a["error"] for a in shown["attemptList"][:3]]
        assert all(e and "connect" in e for e in errors), errors
    finally:
        later.stop()


async def _settled(api: Api, merchant: str, delivery_id: int) -> dict[str, Any] | None:
    shown = await delivery(api, merchant, delivery_id)
    return shown if shown["state"] != "queued" else None


async def test_a_slow_endpoint_does_not_hold_up_another_and_is_disabled_with_a_warning(
    server: Server, api: Api, receiver: Receiver
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await merchant_of(api, kit)
    slow = Receiver()
    slow.delay = 3.0  # beyond the 1 s timeout: every attempt fails
    slow.start()
    fast_path = f"/fast-{kit.shop_id}"
    try:
        stuck = await add_endpoint(api, merchant, slow, "/hook", ["order.paid"])
        await add_endpoint(api, merchant, receiver, fast_path, ["order.paid"])
        async with websockets.connect(server.ws_url(merchant, protocol="2")) as console:
            customer = await api.new_customer()
            paid_at: dict[str, float] = {}
            for _ in range(12):
                order = await paid_order(api, kit, customer)
                paid_at[order["orderNumber"]] = time.monotonic()
            await wait_until(
                lambda: len(receiver.delivered(fast_path)) == 12, what="the fast endpoint's"
            )
            lags = [
                r.at - paid_at[r.body["data"]["orderNumber"]] for r in receiver.delivered(fast_path)
            ]
            # Were the fast endpoint's rows waiting behind the slow one's, they
            # would wait out its 1 s timeouts.
            assert max(lags) < 0.8, lags

            frame = await _next_frame(console, "webhookDisabled", within=DISABLE_AFTER_SECONDS + 15)
        assert (frame["shopId"], frame["endpointId"]) == (kit.shop_id, stuck["id"])
        assert "failed" in frame["reason"]
        listed = {
            e["id"]: e
            for e in await api.ok("GET", "/admin/webhooks", token=merchant, header="token")
        }
        assert listed[stuck["id"]]["enabled"] is False
        assert listed[stuck["id"]]["disabledReason"] == frame["reason"]
        assert listed[stuck["id"]]["disabledAt"]
        # A disabled endpoint gets no more rows; the other one still does.
        fast_before = len(receiver.delivered(fast_path))
        await paid_order(api, kit, customer)
        await wait_until(
            lambda: len(receiver.delivered(fast_path)) == fast_before + 1, what="next payment"
        )
        queued = await api.ok(
            "GET",
            f"/admin/webhooks/deliveries?endpointId={stuck['id']}&state=queued",
            token=merchant,
            header="token",
        )
        assert queued["total"] == 0, "its waiting deliveries were given up"
    finally:
        slow.stop()


async def _next_frame(ws: Any, kind: str, within: float) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = orjson.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame


async def test_bad_input_gets_clear_errors_in_the_envelope_and_writes_nothing(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await merchant_of(api, kit)

    async def refused(
        method: str, path: str, status: int, word: str, body: Any = None
    ) -> dict[str, Any]:
        response = await api.call(method, path, token=merchant, header="token", json=body)
        envelope: dict[str, Any] = response.json()
        assert response.status_code == status, envelope
        assert envelope["code"] == 0 and word in envelope["msg"], envelope
        return envelope

    good = {"url": "https://example.com/hook", "events": ["order.paid"]}
    await refused(
        "POST", "/admin/webhooks", 422, "http:// or https://", {**good, "url": "ftp://x/"}
    )
    await refused("POST", "/admin/webhooks", 422, "host", {**good, "url": "http:///nohost"})
    await refused("POST", "/admin/webhooks", 422, "password", {**good, "url": "http://u:p@x.io/"})
    await refused("POST", "/admin/webhooks", 422, "order.nope", {**good, "events": ["order.nope"]})
    await refused("POST", "/admin/webhooks", 422, "events", {**good, "events": []})
    await refused("POST", "/admin/webhooks", 422, "url", {"events": ["order.paid"]})
    await refused("POST", "/admin/webhooks", 422, "url", {**good, "url": "http://a\x00b/"})
    await refused("DELETE", "/admin/webhooks/2147483647", 404, "not found")
    await refused("POST", "/admin/webhooks/2147483647/test", 404, "not found")
    await refused("GET", "/admin/webhooks/deliveries/2147483647", 404, "not found")
    await refused("POST", "/admin/webhooks/deliveries/2147483647/resend", 404, "not found")
    await refused("GET", "/admin/webhooks/deliveries?state=lost", 422, "state")
    await refused("GET", "/admin/webhooks/deliveries?eventType=order.nope", 422, "eventType")
    await refused("GET", "/admin/webhooks/deliveries?pageSize=1000", 422, "pageSize")
    assert await api.ok("GET", "/admin/webhooks", token=merchant, header="token") == []

    # A delivery still queued (its receiver refuses connections) cannot be resent.
    dead = Receiver()
    endpoint = await add_endpoint(api, merchant, dead, "/hook", ["webhook.test"])
    queued = await api.ok(
        "POST", f"/admin/webhooks/{endpoint['id']}/test", token=merchant, header="token"
    )
    await refused("POST", f"/admin/webhooks/deliveries/{queued['id']}/resend", 409, "queued")
    removed = await api.ok(
        "DELETE", f"/admin/webhooks/{endpoint['id']}", token=merchant, header="token"
    )
    assert removed["id"] == endpoint["id"]
    assert (await delivery(api, merchant, queued["id"]))["state"] == "failed"
    await refused("DELETE", f"/admin/webhooks/{endpoint['id']}", 404, "not found")
    await refused("POST", f"/admin/webhooks/deliveries/{queued['id']}/resend", 400, "removed")


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderbell", "webhook", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_an_endpoint_added_by_the_cli_takes_effect_in_the_running_server(
    server: Server, api: Api, receiver: Receiver
) -> None:
    kit = await new_shop(server.database_url)
    path = f"/deployment-{kit.shop_id}"
    added = await asyncio.to_thread(
        _cli,
        server,
        "add",
        "--url",
        receiver.url(path),
        "--events",
        "order.paid",
        "--shop",
        str(kit.shop_id),
    )
    assert added.returncode == 0, added.stderr
    lines = added.stdout.strip().splitlines()
    endpoint_id = int(lines[0].split()[3])
    receiver.secret(path, lines[-1])
    order = await paid_order(api, kit, await api.new_customer())
    await wait_until(lambda: receiver.delivered(path), what="the CLI endpoint's delivery")
    [got] = receiver.at(path)
    assert got.verified and got.body["data"]["orderNumber"] == order["orderNumber"]

    shown = await asyncio.to_thread(_cli, server, "deliveries", "--endpoint", str(endpoint_id))
    [row] = orjson.loads(shown.stdout)["records"]
    assert (row["messageId"], row["state"]) == (got.message_id, "delivered")
    bad = await asyncio.to_thread(_cli, server, "add", "--url", "ftp://x", "--events", "order.paid")
    assert bad.returncode == 1 and "http:// or https://" in bad.stderr

    removed = await asyncio.to_thread(_cli, server, "remove", str(endpoint_id))
    assert removed.returncode == 0, removed.stderr
    await paid_order(api, kit, await api.new_customer())
    db = Database(server.database_url)
    try:
        async with db.sessions() as session:
            rows = await session.scalar(
                select(func.count()).select_from(Outgoing).where(Outgoing.target_id == endpoint_id)
            )
    finally:
        await db.dispose()
    assert rows == 1, "a removed endpoint gets no new rows"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the default: no webhooks into private networks."""
    with running_server(Path(tmp_path_factory.mktemp("strict")), webhook_poll_seconds="0.2") as srv:
        yield srv


PRIVATE = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
]


async def test_private_addresses_are_refused_without_the_setting(strict: Server) -> None:
    api = Api(strict)
    try:
        kit = await new_shop(strict.database_url)
        merchant = await merchant_of(api, kit)
        for url in PRIVATE:
            response = await api.call(
                "POST",
                "/admin/webhooks",
                token=merchant,
                header="token",
                json={"url": url, "events": ["order.paid"]},
            )
            envelope = response.json()
            assert response.status_code == 400 and envelope["code"] == 0, (url, envelope)
            assert "private" in envelope["msg"] and envelope["data"] is None, url
        assert await api.ok("GET", "/admin/webhooks", token=merchant, header="token") == []
    finally:
        await api.aclose()


async def test_an_endpoint_that_turned_private_is_refused_before_the_attempt(
    strict: Server, receiver: Receiver
) -> None:
    api = Api(strict)
    try:
        kit = await new_shop(strict.database_url)
        merchant = await merchant_of(api, kit)
        # Written past the check at add, as if its name now resolved to loopback.
        path = f"/turned-{kit.shop_id}"
        db = Database(strict.database_url)
        try:
            async with db.transaction() as session:
                endpoint = WebhookEndpoint(
                    shop_id=kit.shop_id,
                    url=receiver.url(path),
                    events="webhook.test",
                    secret="whsec_" + "A" * 32,
                )
                session.add(endpoint)
                await session.flush()
                endpoint_id = endpoint.id
        finally:
            await db.dispose()
        queued = await api.ok(
            "POST", f"/admin/webhooks/{endpoint_id}/test", token=merchant, header="token"
        )

        async def attempted() -> dict[str, Any] | None:
            shown: dict[str, Any] = await api.ok(
                "GET", f"/admin/webhooks/deliveries/{queued['id']}", token=merchant, header="token"
            )
            return shown if shown["attempts"] >= 1 else None

        shown = await wait_until(attempted, what="the first attempt")
        assert "private" in shown["attemptList"][0]["error"]
        assert receiver.at(path) == []
    finally:
        await api.aclose()


def test_the_cli_refuses_private_addresses_too(strict: Server) -> None:
    env = {k: v for k, v in strict.env.items() if k != "ORDERBELL_WEBHOOK_ALLOW_PRIVATE"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orderbell",
            "webhook",
            "add",
            "--url",
            "http://127.0.0.1/x",
            "--events",
            "order.paid",
        ],
        env={**env, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "private" in result.stderr, result.stderr
