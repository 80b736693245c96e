"""The publish API: another order system raises alerts with a shop's API key."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import websockets

from tests.support.frames import collect, silence
from tests.support.servers import Api, Server, new_shop


def create_key(server: Server, shop_id: int) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "orderbell", "shop", "api-key", "create", "--shop", str(shop_id)],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


async def test_an_external_order_alert_reaches_the_consoles(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    key = await asyncio.to_thread(create_key, server, kit.shop_id)
    assert key.startswith("obk_")
    async with websockets.connect(server.ws_url(await api.merchant_token(kit.username))) as ws:
        response = await api.http.post(
            f"/api/v1/shops/{kit.shop_id}/alerts",
            headers={"X-Api-Key": key},
            json={"type": 1, "orderNumber": "SKY20261126001", "orderId": 9001, "text": "3号桌"},
        )
        assert response.status_code == 201, response.text
        [frame] = await collect(ws, 1)
    assert frame == response.json()["data"]
    assert (frame["type"], frame["orderId"], frame["seq"], frame["source"]) == (1, 9001, 1, "api")
    assert frame["content"] == "订单号：SKY20261126001，3号桌"

    reminder = await api.http.post(
        f"/api/v1/shops/{kit.shop_id}/alerts",
        headers={"Authorization": f"Bearer {key}"},
        json={"type": 2, "orderNumber": "SKY20261126001"},
    )
    assert reminder.status_code == 201 and reminder.json()["data"]["seq"] == 2


async def test_keys_are_checked(server: Server, api: Api) -> None:
    mine, other = await new_shop(server.database_url), await new_shop(server.database_url)
    other_key = await asyncio.to_thread(create_key, server, other.shop_id)
    body = {"type": 1, "orderNumber": "X1"}
    url = f"/api/v1/shops/{mine.shop_id}/alerts"
    async with websockets.connect(server.ws_url(await api.merchant_token(mine.username))) as ws:
        none = await api.http.post(url, json=body)
        assert none.status_code == 401 and none.json()["code"] == 0
        forged = await api.http.post(url, json=body, headers={"X-Api-Key": "obk_" + "x" * 43})
        assert forged.status_code == 401
        foreign = await api.http.post(url, json=body, headers={"X-Api-Key": other_key})
        assert foreign.status_code == 403 and "another shop" in foreign.json()["msg"]
        merchant_token = await api.http.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {await api.merchant_token(mine.username)}"},
        )
        assert merchant_token.status_code == 401
        assert await silence(ws, 0.5) == []

    subprocess.run(
        [
            sys.executable,
            "-m",
            "orderbell",
            "shop",
            "api-key",
            "revoke",
            "--shop",
            str(other.shop_id),
            other_key[:12],
        ],
        env=server.env,
        check=True,
        capture_output=True,
    )
    revoked = await api.http.post(
        f"/api/v1/shops/{other.shop_id}/alerts", json=body, headers={"X-Api-Key": other_key}
    )
    assert revoked.status_code == 401


async def test_a_retried_idempotency_key_creates_one_alert(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    key = await asyncio.to_thread(create_key, server, kit.shop_id)
    url = f"/api/v1/shops/{kit.shop_id}/alerts"
    headers = {"X-Api-Key": key, "Idempotency-Key": "order-77-paid"}
    body = {"type": 1, "orderNumber": "77", "orderId": 77}
    async with websockets.connect(server.ws_url(await api.merchant_token(kit.username))) as ws:
        first = await api.http.post(url, json=body, headers=headers)
        retries = await asyncio.gather(
            *(api.http.post(url, json=body, headers=headers) for _ in range(5))
        )
        frames = await collect(ws, 1)
        assert await silence(ws, 0.5) == []
    assert first.status_code == 201
    assert {r.status_code for r in retries} == {200}
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in retries)
    assert {r.json()["data"]["seq"] for r in retries} == {first.json()["data"]["seq"]} == {1}
    assert [f["seq"] for f in frames] == [1]

    other = await api.http.post(
        url, json=body, headers={**headers, "Idempotency-Key": "order-78-paid"}
    )
    assert other.status_code == 201 and other.json()["data"]["seq"] == 2


async def test_bad_publish_bodies_are_refused(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    key = await asyncio.to_thread(create_key, server, kit.shop_id)
    url = f"/api/v1/shops/{kit.shop_id}/alerts"
    for body in (
        {"type": 3, "orderNumber": "1"},
        {"type": 1},
        {"type": 1, "orderNumber": "1", "text": "x" * 61},
    ):
        response = await api.http.post(url, json=body, headers={"X-Api-Key": key})
        assert response.status_code == 422 and response.json()["code"] == 0, body


async def test_an_external_alert_is_dismissed_on_every_console(server: Server, api: Api) -> None:
    kit, other = await new_shop(server.database_url), await new_shop(server.database_url)
    key = await asyncio.to_thread(create_key, server, kit.shop_id)
    merchant = await api.merchant_token(kit.username)
    async with (
        websockets.connect(server.ws_url(merchant, protocol="2")) as c1,
        websockets.connect(server.ws_url(merchant, protocol="2")) as c2,
    ):
        for ws in (c1, c2):
            await collect(ws, 2)  # hello, synced
        await api.http.post(
            f"/api/v1/shops/{kit.shop_id}/alerts",
            headers={"X-Api-Key": key},
            json={"type": 1, "orderNumber": "EXT-1", "orderId": 5},
        )
        for ws in (c1, c2):
            assert [f["seq"] for f in await collect(ws, 1, skip=("ping",))] == [1]
        foreign = await api.call(
            "PUT",
            "/admin/alert/dismiss",
            token=await api.merchant_token(other.username),
            header="token",
            json={"seq": 1},
        )
        assert foreign.status_code == 404
        await api.ok("PUT", "/admin/alert/dismiss", token=merchant, header="token", json={"seq": 1})
        for ws in (c1, c2):
            [handled] = await collect(ws, 1, skip=("ping",))
            assert (
                handled["type"],
                handled["alertSeq"],
                handled["action"],
                handled["orderId"],
            ) == ("handled", 1, "dismissed", 5)
    assert await api.ok("GET", "/admin/alert/unhandled", token=merchant, header="token") == []
    again = await api.call(
        "PUT", "/admin/alert/dismiss", token=merchant, header="token", json={"seq": 1}
    )
    assert again.status_code == 404
