"""The console page in a real browser: how many devices of the shop are online, and a
warning on every device when another one cannot be heard (its sound is off)."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.console import Console
from tests.e2e.server import Api, Server, new_shop


async def test_every_device_sees_the_count_and_that_the_kitchen_tablets_sound_is_off(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    front = await Console.open(browser, server)
    kitchen = await Console.open(browser, server)
    try:
        await front.login(kit.username)
        await front.enable_sound()
        await expect(front.page.locator("#devices")).to_have_text("1 台设备在线")
        await expect(front.page.locator("#device-warnings")).to_be_hidden()

        # The kitchen tablet was named in its settings before, and after this
        # (re)load its sound is off until someone taps it.
        await kitchen.page.evaluate(
            """localStorage.setItem("orderbell.console.prefs",
                                    JSON.stringify({deviceName: "后厨平板"}))"""
        )
        await kitchen.page.reload()
        await kitchen.login(kit.username)
        await expect(kitchen.page.locator("#settings-device-name")).to_have_value("后厨平板")

        await expect(front.page.locator("#devices")).to_have_text("2 台设备在线")
        warning = front.page.locator("#device-warnings .device-warning")
        await expect(warning).to_have_text(["后厨平板声音已关闭"])
        # The tablet itself warns of nobody: its own state shows in its sound button.
        await expect(kitchen.page.locator("#devices")).to_have_text("2 台设备在线")
        await expect(kitchen.page.locator("#device-warnings")).to_be_hidden()

        # Sound on in the kitchen: the warning goes away everywhere.
        await kitchen.page.click("#shift-overlay")
        await expect(kitchen.page.locator("#sound-status")).to_have_attribute("data-state", "on")
        await expect(front.page.locator("#device-warnings")).to_be_hidden()

        # The tablet leaves: one device is left.
        await kitchen.close()
        await expect(front.page.locator("#devices")).to_have_text("1 台设备在线")
        assert not front.errors and not kitchen.errors
    finally:
        await front.close()
