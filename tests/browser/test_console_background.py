"""The console as an app that alerts in the background, in a real Chromium: its service
worker, a Web Push delivered through the DevTools protocol (as a push service would
deliver it) shown as a notification of the order and closed by a "handled" push, the
"start the shift" overlay, the wake lock, readiness in GET /admin/shop/devices, and
the page shell that opens with the server stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from playwright.async_api import Browser, CDPSession, Page, expect

from orderbell.domain.push import alert_message, handled_message
from tests.browser.console import Console
from tests.e2e.server import Api, Server, new_shop
from tests.support.polling import wait_until
from tests.support.servers import running_server

# Records wake lock requests; the lock is let go when the page is hidden, as browsers do.
WAKE_LOCK_SPY = """
(() => {
  const calls = (window.__wakeLocks = []);
  localStorage.setItem("orderbell.console.wakeLock", "on");
  const lock = {
    async request(type) {
      const sentinel = new EventTarget();
      sentinel.released = false;
      sentinel.type = type;
      sentinel.release = async () => {
        if (sentinel.released) return;
        sentinel.released = true;
        sentinel.dispatchEvent(new Event("release"));
      };
      calls.push(type);
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "hidden") sentinel.release();
      });
      return sentinel;
    },
  };
  Object.defineProperty(Navigator.prototype, "wakeLock", { configurable: true, get: () => lock });
})();
"""

NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const notes = await registration.getNotifications();
  return notes.map((n) => ({ title: n.title, body: n.body, tag: n.tag,
                             requireInteraction: n.requireInteraction, data: n.data }));
}"""


async def registration_id(cdp: CDPSession, scope: str) -> str:
    """The id of the service worker registration of ``scope``, as DevTools knows it."""
    found: dict[str, str] = {}

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == scope and not registration["isDeleted"]:
                found["id"] = registration["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    await cdp.send("ServiceWorker.enable")
    return await wait_until(lambda: found.get("id"), what=f"the registration of {scope}")


async def notifications(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate(NOTIFICATIONS)
    return found


async def devices(api: Api, token: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await api.ok(
        "GET", "/admin/shop/devices", token=token, header="token"
    )
    return found


async def test_a_push_shows_the_order_until_it_is_handled_and_the_shift_starts_with_a_tap(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.context.grant_permissions(["notifications"], origin=server.base_url)
    await console.context.add_init_script(WAKE_LOCK_SPY)
    await page.reload()
    await console.login(kit.username)
    token = await api.merchant_token(kit.username)
    try:
        scope = await page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{server.base_url}/console"
        manifest = await page.evaluate(
            "fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json())"
        )
        assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}

        # Sound is off after the load: the overlay covers the page, and the device
        # says so to the shop.
        overlay = page.locator("#shift-overlay")
        await expect(overlay).to_be_visible()
        await expect(page.locator('#readiness [data-check="sound"]')).to_have_attribute(
            "data-state", "bad"
        )
        [device] = await wait_until(lambda: devices(api, token), what="the device")
        assert device["ready"] is False and "sound" in device["problems"]
        assert device["wakeLock"] is True
        assert await page.evaluate("window.__wakeLocks") == ["screen"]

        await overlay.click()
        await expect(overlay).to_be_hidden()
        await expect(page.locator("#sound-status")).to_have_attribute("data-state", "on")
        await expect(page.locator('#readiness [data-check="sound"]')).to_have_attribute(
            "data-state", "ok"
        )

        async def sound_fine() -> dict[str, Any] | None:
            listed = await devices(api, token)
            return listed[0] if listed and "sound" not in listed[0]["problems"] else None

        device = await wait_until(sound_fine, what="the device's sound reported on")
        # What the device lists is what its panel shows as wrong.
        bad = await page.locator('#readiness [data-state="bad"]').evaluate_all(
            "(items) => items.map((i) => i.dataset.check)"
        )
        assert device["problems"] == bad
        assert device["ready"] is (bad == [])

        # Hidden, the lock is let go; visible again, it is taken again.
        await page.evaluate("window.__setHidden(true)")
        await page.evaluate("window.__setHidden(false)")
        await wait_until(
            lambda: _count(page, "window.__wakeLocks.length", 2), what="the lock taken again"
        )

        cdp = await console.context.new_cdp_session(page)
        registration = await registration_id(cdp, scope)
        alert = alert_message(
            shop_id=kit.shop_id,
            seq=7,
            type=2,
            order_id=4321,
            order_number="202612070000004321",
            content="订单号：202612070000004321",
        )
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": server.base_url,
                "registrationId": registration,
                "data": orjson.dumps(alert).decode(),
            },
        )
        [note] = await wait_until(lambda: notifications(page), what="the notification")
        assert note["title"] == "催单 #4321"
        assert note["body"] == alert["body"]
        assert note["tag"] == alert["tag"] and note["requireInteraction"] is True
        assert note["data"]["orderId"] == 4321 and note["data"]["seq"] == 7

        handled = handled_message(
            shop_id=kit.shop_id, order_id=4321, order_number="202612070000004321"
        )
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": server.base_url,
                "registrationId": registration,
                "data": orjson.dumps(handled).decode(),
            },
        )
        await wait_until(lambda: _none(page), what="the notification closed by the handled push")
        assert not console.errors
    finally:
        await console.close()


async def _count(page: Page, expression: str, at_least: int) -> bool:
    return int(await page.evaluate(expression)) >= at_least


async def _none(page: Page) -> bool:
    return await notifications(page) == []


async def test_the_page_opens_from_the_cache_and_says_it_is_offline_with_the_server_stopped(
    browser: Browser, tmp_path: Path
) -> None:
    with running_server(tmp_path) as own:
        console = await Console.open(browser, own)
        page = console.page
        try:
            await page.evaluate("navigator.serviceWorker.ready")
            await wait_until(
                lambda: page.evaluate("Boolean(navigator.serviceWorker.controller)"),
                what="the page controlled by its service worker",
            )
            await expect(page.locator("#page-offline")).to_be_hidden()
            own.stop()
            await page.reload()
            await expect(page.locator("#login-form")).to_be_visible()
            await expect(page.locator("#page-offline")).to_be_visible()
            await expect(page.locator("#page-offline")).to_contain_text("离线")
        finally:
            await console.close()
