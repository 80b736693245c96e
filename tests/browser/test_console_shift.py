"""The console through a real shift: the shop's name in the header, one notice per
order that needs action, waiting timers, accepting with a prep time, the voice
repeated with the chime, the phone's header and the order history.

One server serves the module; reminders may follow each other at once here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from orderbell.services.accounts import create_merchant
from orderbell.storage.database import Database
from tests.browser.console import Console
from tests.browser.orders import paid_order, remind
from tests.e2e.server import PASSWORD, Api, Server, new_shop, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        Path(tmp_path_factory.mktemp("shift")),
        reminder_interval_seconds="0",
        reminder_max_per_order="5",
    ) as srv:
        yield srv


async def test_the_header_names_the_shop_and_the_employee_smaller(
    browser: Browser, server: Server
) -> None:
    kit = await new_shop(server.database_url, "Demo Kitchen")
    db = Database(server.database_url)
    try:
        await create_merchant(
            db,
            shop_id=kit.shop_id,
            username=f"{kit.username[:24]}mgr",
            password=PASSWORD,
            name="Demo Manager",
        )
    finally:
        await db.dispose()
    console = await Console.open(browser, server)
    page = console.page
    await console.login(f"{kit.username[:24]}mgr")
    await expect(page.locator("#shop-name")).to_have_text("Demo Kitchen")
    await expect(page.locator("#employee-name")).to_have_text("Demo Manager")
    sizes = await page.evaluate(
        """['shop-name', 'employee-name'].map(id =>
            parseFloat(getComputedStyle(document.getElementById(id)).fontSize))"""
    )
    assert sizes[1] < sizes[0], sizes
    # A reload keeps the session and shows the same.
    await page.reload()
    await expect(page.locator("#shop-name")).to_have_text("Demo Kitchen")
    await expect(page.locator("#employee-name")).to_have_text("Demo Manager")
    assert console.errors == []
    await console.close()


async def test_one_notice_per_order_cleared_when_answered_or_sent_out(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    merchant = await api.merchant_token(kit.username)
    busy = [await paid_order(api, kit) for _ in range(3)]
    for order in busy:
        await console.card(order["id"]).locator('[data-action="accept"]').click()
        await expect(console.column(3).locator(f'[data-order-id="{order["id"]}"]')).to_be_visible()
    for _ in range(3):
        for order in busy:
            await remind(api, order)
    waiting = await paid_order(api, kit)
    await remind(api, waiting)

    # Ten open alerts, four orders: four chips, the title counts four.
    await expect(console.cards.locator(".flag-reminder")).to_have_count(4)
    await expect(console.notices).to_have_count(4)
    await expect(page).to_have_title("(4) 订单提醒 · orderbell")
    await expect(page.locator("#notices .notice-more")).to_have_count(0)
    # The waiting order's chip says it waits to be accepted, once.
    waiting_chip = page.locator(f'#notices [data-order-id="{waiting["id"]}"]')
    await expect(waiting_chip).to_have_count(1)
    await expect(waiting_chip).to_have_class("notice notice-new")

    first, second, third = busy
    # Answered: its chip goes.
    await console.card(first["id"]).locator('[data-reply="cooking"]').click()
    await expect(page.locator(f'#notices [data-order-id="{first["id"]}"]')).to_have_count(0)
    # Sent out: its reminders are answered, everywhere (not only on this page).
    await console.card(second["id"]).locator('[data-action="deliver"]').click()
    await expect(page.locator(f'#notices [data-order-id="{second["id"]}"]')).to_have_count(0)
    await expect(console.card(second["id"]).locator(".flag-reminder")).to_have_count(0)
    unhandled = await api.ok("GET", "/admin/alert/unhandled", token=merchant, header="token")
    assert second["id"] not in {a["orderId"] for a in unhandled}
    # Completed: gone too.
    await console.card(third["id"]).locator('[data-action="deliver"]').click()
    await console.card(third["id"]).locator('[data-action="complete"]').click()
    await expect(page.locator(f'#notices [data-order-id="{third["id"]}"]')).to_have_count(0)
    await expect(console.notices).to_have_count(1)
    await expect(page).to_have_title("(1) 订单提醒 · orderbell")

    # A reminder while out for delivery still needs an answer (and rings as one).
    await remind(api, second)
    chip = page.locator(f'#notices [data-order-id="{second["id"]}"]')
    await expect(chip).to_have_class("notice notice-reminder")
    await expect(console.card(second["id"]).locator(".reply-box")).to_be_visible()
    await expect(page).to_have_title("(2) 订单提醒 · orderbell")
    await console.card(waiting["id"]).locator('[data-action="accept"]').click()
    await console.card(second["id"]).locator('[data-reply="out_for_delivery"]').click()
    await expect(console.notices).to_have_count(1)
    await expect(page).to_have_title("(1) 订单提醒 · orderbell")
    assert console.errors == []
    await console.close()


async def test_a_waiting_card_counts_its_wait_up_then_turns_amber_then_red(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await console.open_settings()
    # Thresholds in minutes: 1.2 and 3 seconds here.
    for field, minutes in (("#settings-wait-amber", "0.02"), ("#settings-wait-red", "0.05")):
        await page.fill(field, minutes)
        await page.locator(field).dispatch_event("change")
    order = await paid_order(api, kit)
    timer = console.card(order["id"]).locator(".wait-timer")
    await expect(timer).to_have_attribute("data-level", "ok")
    await expect(timer).to_have_text(re.compile(r"^已等 0:0[0-2]$"))
    await expect(timer).to_have_attribute("data-level", "amber", timeout=3000)
    await expect(timer).to_have_attribute("data-level", "red", timeout=4000)
    await expect(timer).to_have_text(re.compile(r"^已等 0:0[3-9]$"))
    colours = await timer.evaluate("n => getComputedStyle(n).backgroundColor")
    assert colours == "rgb(183, 28, 28)", colours
    # Kept after a reload of the page (settings are remembered).
    await page.reload()
    await expect(console.card(order["id"]).locator(".wait-timer")).to_have_attribute(
        "data-level", "red"
    )
    # Accepted: no longer waiting, no timer.
    await console.card(order["id"]).locator('[data-action="accept"]').click()
    await expect(console.column(3).locator(".card")).to_have_count(1)
    await expect(console.card(order["id"]).locator(".wait-timer")).to_have_count(0)
    assert console.errors == []
    await console.close()
