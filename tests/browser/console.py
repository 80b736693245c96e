"""Driving the merchant console page in a real browser, and reading what its spies saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.server import PASSWORD, Server

SPIES = Path(__file__).with_name("spies.js")
TABLET = {"width": 1180, "height": 820}

# The notes (Hz, rounded to 0.1) of each chime the console plays; see sound.js.
CHIMES = {
    "order": [880.0, 1318.5, 1760.0],
    "reminder": [1174.7, 784.0, 1174.7, 784.0],
    "check": [659.3],
    # An order the escalation ladder flagged: louder, rung more often.
    "escalation": [987.8, 1318.5, 987.8, 1318.5],
    "offline": [523.3, 392.0, 523.3, 392.0],
}

SPOKEN_NEW_ORDER = "您有新的外卖订单，请及时处理"

_COUNT_CHIMES = """([notes, since]) => window.__spy.chimes.filter(
    c => c.at >= since && JSON.stringify(c.notes) === JSON.stringify(notes)).length"""


class Console:
    """One console page (in its own browser context: its own session storage)."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    @classmethod
    async def open(
        cls, browser: Browser, server: Server, *, viewport: dict[str, int] | None = None
    ) -> Console:
        context = await browser.new_context(
            base_url=server.base_url, viewport=viewport or TABLET, locale="zh-CN"
        )
        await context.add_init_script(path=SPIES)
        page = await context.new_page()
        console = cls(context, page)

        async def on_dialog(dialog: Any) -> None:
            console.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: console.errors.append(str(error)))
        await page.goto("/console")
        return console

    async def close(self) -> None:
        await self.context.close()

    async def login(self, username: str, password: str = PASSWORD) -> None:
        page = self.page
        await page.fill("#login-username", username)
        await page.fill("#login-password", password)
        await page.click("#login-submit")
        await expect(page.locator("#console-view")).to_be_visible()
        await self.wait_connected()

    async def wait_connected(self, within_ms: float = 5000) -> None:
        await expect(self.connection).to_have_attribute(
            "data-state", "connected", timeout=within_ms
        )

    async def enable_sound(self) -> None:
        await expect(self.page.locator("#sound-gate")).to_be_visible()
        # The "start the shift" overlay covers the page until sound is on: one tap.
        await expect(self.page.locator("#shift-overlay")).to_be_visible()
        await self.page.click("#shift-overlay")
        await expect(self.page.locator("#sound-status")).to_have_attribute("data-state", "on")
        await expect(self.page.locator("#sound-gate")).to_be_hidden()

    async def open_settings(self) -> None:
        if await self.page.locator("#settings").is_hidden():
            await self.page.click("#settings-toggle")

    async def set_repeat(self, seconds: int) -> None:
        await self.open_settings()
        await self.page.fill("#settings-repeat", str(seconds))
        await self.page.locator("#settings-repeat").dispatch_event("change")

    async def set_language(self, lang: str) -> None:
        await self.open_settings()
        await self.page.select_option("#settings-lang", lang)

    @property
    def connection(self) -> Locator:
        return self.page.locator("#connection")

    def card(self, order_id: int) -> Locator:
        return self.page.locator(f'.card[data-order-id="{order_id}"]')

    def column(self, status: int) -> Locator:
        return self.page.locator(f'.column[data-status="{status}"]')

    @property
    def cards(self) -> Locator:
        return self.page.locator(".card")

    @property
    def notices(self) -> Locator:
        return self.page.locator("#notices .notice[data-seq]")

    async def now(self) -> int:
        """The page's clock (ms), to count only what happens after this moment."""
        return int(await self.page.evaluate("Date.now()"))

    async def chime_count(self, kind: str, since: int = 0) -> int:
        return int(await self.page.evaluate(_COUNT_CHIMES, [CHIMES[kind], since]))

    async def wait_chimes(
        self, kind: str, count: int, since: int = 0, within_ms: float = 3000
    ) -> None:
        await self.page.wait_for_function(
            f"args => ({_COUNT_CHIMES})(args) >= {count}",
            arg=[CHIMES[kind], since],
            timeout=within_ms,
        )

    async def chimes(self) -> list[str]:
        """The kinds of every chime played so far, in order."""
        played = await self.page.evaluate("window.__spy.chimes.map(c => c.notes)")
        names = {tuple(v): k for k, v in CHIMES.items()}
        return [names.get(tuple(notes), f"unknown {notes}") for notes in played]

    async def spoken(self) -> list[dict[str, Any]]:
        return list(await self.page.evaluate("window.__spy.spoken"))

    async def wait_spoken(self, count: int, within_ms: float = 3000) -> list[dict[str, Any]]:
        await self.page.wait_for_function(
            "n => window.__spy.spoken.length >= n", arg=count, timeout=within_ms
        )
        return await self.spoken()

    async def sockets(self) -> list[str]:
        return list(await self.page.evaluate("window.__spy.sockets"))
