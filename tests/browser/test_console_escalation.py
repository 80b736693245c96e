"""The console page in a real browser when the server's escalation ladder flags an order
nobody accepted: the card is marked, and the order rings louder and more often than
the plain repeat until someone accepts it; a console opened later knows it too."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import Browser, expect

from tests.browser.console import CHIMES, Console
from tests.browser.orders import paid_order
from tests.e2e.server import Api, Server, new_shop

ESCALATED = re.compile(r"\bescalated\b")


async def test_an_escalated_order_rings_louder_and_more_often_until_accepted(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    # This shop's ladder warns after one second (the server's default is a minute).
    await api.ok(
        "PUT",
        "/admin/shop/escalation",
        token=merchant,
        header="token",
        json={"warnSeconds": 1, "notifySeconds": 3600, "autoCancelMinutes": 0},
    )
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await console.enable_sound()
    # The plain repeat every 9 s; an escalated order rings every 3 s.
    await console.set_repeat(9)
    since = await console.now()
    order = await paid_order(api, kit)
    card = console.card(order["id"])
    await expect(card).to_be_visible()
    await expect(card).not_to_have_class(ESCALATED)
    await console.wait_chimes("order", 1, since)

    await expect(card).to_have_class(ESCALATED, timeout=10_000)
    await expect(card.locator(".flag-escalated")).to_have_text("超时未接")
    await console.wait_chimes("escalation", 2, since, within_ms=10_000)
    chimes: list[dict[str, Any]] = await page.evaluate("window.__spy.chimes")
    plain = [c for c in chimes if c["notes"] == CHIMES["order"] and c["at"] >= since]
    loud = [c for c in chimes if c["notes"] == CHIMES["escalation"]]
    assert loud[0]["wave"] == "square" and plain[0]["wave"] == "sine"
    assert loud[0]["peak"] > plain[0]["peak"] * 1.5, (loud[0], plain[0])
    gap = loud[1]["at"] - loud[0]["at"]
    assert 2500 <= gap <= 5000, gap
    # The louder ring replaces the plain repeat, it does not add to it.
    assert len(plain) == 1

    # A console that connects now learns of the escalation from the order itself.
    later = await Console.open(browser, server)
    await later.login(kit.username)
    await expect(later.card(order["id"])).to_have_class(ESCALATED)
    await later.close()

    await card.locator('[data-action="accept"]').click()
    accepted = console.column(3).locator(f'.card[data-order-id="{order["id"]}"]')
    await expect(accepted).to_be_visible()
    await expect(accepted).not_to_have_class(ESCALATED)
    after = await console.now()
    # Longer than the escalated period: no louder ring once the order is accepted.
    await asyncio.sleep(3.5)
    assert await console.chime_count("escalation", after) == 0
    assert console.errors == []
    await console.close()
