"""End to end: Web Push from a real server, through ``pywebpush``, to a push service
that runs here (tests/support/push_service.py) and checks what a real one and a
browser would: the VAPID JWT against the deployment's public key, and the
payload decrypted with the subscription's private key.

Alerts nobody has shown are pushed 2 s after they are raised (instead of 10).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from tests.support.frames import collect
from tests.support.polling import wait_until
from tests.support.push_service import Pushed, PushService
from tests.support.servers import Api, Server, ShopKit, new_shop, running_server, start

PUSH_AFTER = 2.0


@pytest.fixture(scope="module")
def service() -> Iterator[PushService]:
    s = PushService().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        Path(tmp_path_factory.mktemp("push")),
        push_after_seconds=str(PUSH_AFTER),
        push_check_seconds="0.2",
        push_allow_private="true",
        webhook_poll_seconds="0.2",
    ) as srv:
        yield srv


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server)
    yield client
    await client.aclose()


async def merchant(api: Api, kit: ShopKit) -> str:
    return await api.merchant_token(kit.username)


async def subscribe(api: Api, token: str, body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = await api.ok(
        "POST", "/admin/push/subscriptions", token=token, header="token", json=body
    )
    return data


async def paid_order(api: Api, kit: ShopKit) -> dict[str, Any]:
    customer, address = await api.new_customer()
    order = await api.place_order(customer, address, [kit.dish_ids[0]])
    await api.pay(customer, order["orderNumber"])
    return order


def alerts_to(service: PushService, name: str) -> list[Pushed]:
    return [p for p in service.to(name) if p.message and p.message["kind"] == "alert"]


async def test_an_unseen_alert_is_pushed_signed_and_encrypted_and_accepting_closes_it(
    server: Server, api: Api, service: PushService
) -> None:
    kit = await new_shop(server.database_url)
    token = await merchant(api, kit)
    key = (await api.ok("GET", "/admin/push/key", token=token, header="token"))["publicKey"]
    sub = await subscribe(api, token, service.subscription("tablet", "front-desk"))
    assert sub["deviceId"] == "front-desk" and sub["pushService"] == "127.0.0.1"

    order = await paid_order(api, kit)
    [pushed] = await wait_until(lambda: alerts_to(service, "tablet"), what="the alert's push")
    assert pushed.error is None and pushed.status == 201
    assert pushed.vapid_key == key
    assert pushed.claims is not None and pushed.claims["sub"].startswith("mailto:")
    assert pushed.urgency == "high" and pushed.encoding == "aes128gcm"
    assert pushed.ttl is not None and int(pushed.ttl) > 0
    message = pushed.message
    assert message is not None
    assert message["orderId"] == order["id"]
    assert message["orderNumber"] == order["orderNumber"]
    assert message["shopId"] == kit.shop_id and message["seq"] == 1 and message["type"] == 1
    assert order["orderNumber"][-4:] in message["title"]
    assert message["tag"].endswith(f"order-{order['id']}")

    # The subscription's success is noted.
    listed = await wait_until(lambda: _success(api, token), what="the subscription's last success")
    assert listed[0]["id"] == sub["id"]

    await api.ok(
        "PUT", "/admin/order/confirm", token=token, header="token", json={"id": order["id"]}
    )
    handled = await wait_until(
        lambda: [p for p in service.to("tablet") if p.message and p.message["kind"] == "handled"],
        what="the handled push",
    )
    assert handled[0].error is None
    assert handled[0].message is not None
    assert handled[0].message["tag"] == message["tag"]
    # Once per alert per subscription, however many turns the sweep made.
    assert len(alerts_to(service, "tablet")) == 1


async def _success(api: Api, token: str) -> list[dict[str, Any]] | None:
    listed: list[dict[str, Any]] = await api.ok(
        "GET", "/admin/push/subscriptions", token=token, header="token"
    )
    return listed if listed and listed[0]["lastSuccessAt"] else None


async def test_a_gone_subscription_is_removed_and_bad_ones_are_refused(
    server: Server, api: Api, service: PushService
) -> None:
    kit = await new_shop(server.database_url)
    token = await merchant(api, kit)
    await subscribe(api, token, service.subscription("old-phone", "phone"))
    kept = await subscribe(api, token, service.subscription("new-phone", "phone"))
    service.answer("old-phone", 410)

    await paid_order(api, kit)
    await wait_until(lambda: service.to("old-phone"), what="the push to the old phone")
    await wait_until(lambda: alerts_to(service, "new-phone"), what="the push to the new phone")

    async def only_kept() -> bool:
        listed = await api.ok("GET", "/admin/push/subscriptions", token=token, header="token")
        return [s["id"] for s in listed] == [kept["id"]]

    await wait_until(only_kept, what="the gone subscription removed")

    good = service.subscription("spare", "spare")
    for bad, field in [
        ({**good, "keys": {**good["keys"], "p256dh": "AAAA"}}, "p256dh"),
        ({**good, "keys": {**good["keys"], "auth": "!!"}}, "auth"),
        ({**good, "endpoint": "ftp://127.0.0.1/x"}, "endpoint"),
        ({k: v for k, v in good.items() if k != "deviceId"}, "deviceId"),
    ]:
        response = await api.call(
            "POST", "/admin/push/subscriptions", token=token, header="token", json=bad
        )
        assert response.status_code in (400, 422), (field, response.text)
        assert response.json()["code"] == 0
    missing = await api.call(
        "DELETE", "/admin/push/subscriptions/999999", token=token, header="token"
    )
    assert missing.status_code == 404 and missing.json()["code"] == 0
    await api.ok("DELETE", f"/admin/push/subscriptions/{kept['id']}", token=token, header="token")
    assert await api.ok("GET", "/admin/push/subscriptions", token=token, header="token") == []


async def test_an_alert_shown_on_a_visible_console_is_not_pushed(
    server: Server, api: Api, service: PushService
) -> None:
    kit = await new_shop(server.database_url)
    token = await merchant(api, kit)
    await subscribe(api, token, service.subscription("watcher", "watcher"))
    async with websockets.connect(server.ws_url(token, "counter", protocol="2")) as console:
        assert [f["type"] for f in await collect(console, 2)] == ["hello", "synced"]
        seen = await paid_order(api, kit)
        [alert] = await collect(console, 1)
        assert alert["orderId"] == seen["id"]
        await console.send(
            orjson.dumps({"type": "ack", "seq": alert["seq"], "what": "shown"}).decode()
        )
        unseen = await paid_order(api, kit)
        # The later alert, not acknowledged, is pushed; the earlier one, shown, never is.
        pushed = await wait_until(lambda: alerts_to(service, "watcher"), what="the unseen push")
    assert [p.message["orderId"] for p in pushed if p.message] == [unseen["id"]]
    assert "Traceback" not in server.log()


async def test_the_keys_are_kept_across_restarts_and_shown_by_the_cli(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    token = await merchant(api, kit)
    before = await api.ok("GET", "/admin/push/key", token=token, header="token")
    server.stop()
    start(server)
    token = await merchant(api, kit)
    assert await api.ok("GET", "/admin/push/key", token=token, header="token") == before
    shown = subprocess.run(
        [sys.executable, "-m", "orderbell", "push", "keys"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == before["publicKey"]
