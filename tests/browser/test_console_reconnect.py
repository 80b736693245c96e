"""The console's link: it survives a server restart, resumes without loss or repeat, and
goes back to login when its token is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, Route, expect

from tests.browser.console import SPOKEN_NEW_ORDER, Console
from tests.browser.orders import paid_order
from tests.e2e.server import Api, Server, free_port, new_shop, running_server, start


async def test_the_console_rides_out_a_server_restart_and_shows_what_it_missed_once(
    browser: Browser, tmp_path: Path
) -> None:
    with running_server(tmp_path) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            console = await Console.open(browser, server)
            page = console.page
            await console.login(kit.username)
            await console.enable_sound()
            # No repeat ring (which now speaks too) during a slow restart: only the alerts speak.
            await console.set_repeat(600)
            first = await paid_order(api, kit)
            await expect(console.card(first["id"])).to_be_visible()
            await console.wait_spoken(1)
            # Unpaid for now: paid while the console cannot hear it.
            customer = await api.new_customer()
            missed = await api.place_order(customer[0], customer[1], [kit.dish_ids[1]])

            # Another process of the deployment, on the same database, takes the
            # payment while this one is down (started first: a short outage).
            other = Server(free_port(), server.database_url, tmp_path / "other.log", server.env)
            start(other)
            other_api = Api(other)
            try:
                server.stop()
                await expect(console.connection).to_have_attribute(
                    "data-state", "reconnecting", timeout=5000
                )
                await expect(console.connection).to_contain_text("重连")
                await other_api.pay(customer[0], missed["orderNumber"])
            finally:
                await other_api.aclose()
                other.stop()

            server.start()
            await console.wait_connected(within_ms=20000)
            card = console.card(missed["id"])
            await expect(card.locator(".flag-new")).to_be_visible()
            sockets = await console.sockets()
            assert len(sockets) >= 2
            assert "since=1" in sockets[-1], sockets[-1]
            await console.wait_spoken(2)

            # Once: one card, one notice, one spoken line for the missed alert,
            # even when the same frame comes again.
            frame = next(
                text
                for text in await page.evaluate("window.__spy.frames")
                if json.loads(text).get("orderId") == missed["id"]
            )
            injected = await console.now()
            await page.evaluate(
                "f => window.__socket.dispatchEvent(new MessageEvent('message', {data: f}))",
                frame,
            )
            # Long enough for a chime and the spoken line after it.
            await page.wait_for_timeout(1200)
            assert await console.chime_count("order", injected) == 0
            await expect(card).to_have_count(1)
            await expect(page.locator(f'#notices [data-order-id="{missed["id"]}"]')).to_have_count(
                1
            )
            spoken = [s["text"] for s in await console.spoken()]
            assert spoken == [SPOKEN_NEW_ORDER, SPOKEN_NEW_ORDER]
            assert (await page.title()).startswith("(2) ")
            assert console.errors == []
            await console.close()
        finally:
            await api.aclose()


@pytest.mark.parametrize("who", ["expired", "customer"])
async def test_a_refused_token_goes_back_to_login_without_retrying(
    browser: Browser, server: Server, api: Api, who: str
) -> None:
    token = "expired.token.value" if who == "expired" else (await api.new_customer())[0]
    console = await Console.open(browser, server)
    page = console.page

    # The HTTP API answers as if all were well: only the socket's close code
    # (4401 or 4403) can send the page back to login here.
    async def empty_answers(route: Route) -> None:
        data = {"total": 0, "records": []} if "conditionSearch" in route.request.url else []
        await route.fulfill(json={"code": 1, "msg": None, "data": data})

    await page.route("**/admin/**", empty_answers)
    session = {"token": token, "shopId": 1, "name": "Someone"}
    await page.evaluate(
        "s => sessionStorage.setItem('orderbell.console.session', JSON.stringify(s))", session
    )
    await page.reload()
    await expect(page.locator("#login-view")).to_be_visible()
    message = "登录已失效" if who == "expired" else "不是商家账号"
    await expect(page.locator("#login-error")).to_contain_text(message)
    await page.wait_for_timeout(1500)
    assert len(await console.sockets()) == 1, "the same token is not tried again"
    assert await page.evaluate("sessionStorage.getItem('orderbell.console.session')") is None
    await console.close()


async def test_after_a_reset_the_console_counts_again_from_the_log(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    # A console that saw seq 999 of a log that has been replaced since.
    await page.evaluate(f"sessionStorage.setItem('orderbell.console.lastSeq.{kit.shop_id}', '999')")
    await console.login(kit.username)
    await console.enable_sound()
    assert "since=999" in (await console.sockets())[0]
    await page.wait_for_function("window.__spy.frames.some(f => JSON.parse(f).type === 'synced')")
    frames = [json.loads(f) for f in await page.evaluate("window.__spy.frames")]
    assert [f["type"] for f in frames][:3] == ["hello", "reset", "synced"]

    order = await paid_order(api, kit)
    await expect(console.card(order["id"]).locator(".flag-new")).to_be_visible()
    await expect(console.notices).to_have_count(1)
    [spoken] = await console.wait_spoken(1)
    assert spoken["text"] == SPOKEN_NEW_ORDER
    stored = await page.evaluate(
        f"sessionStorage.getItem('orderbell.console.lastSeq.{kit.shop_id}')"
    )
    assert stored == "1"
    await console.close()
