"""The console through a real shift: the shop's name in the header, one notice per
order that needs action, waiting timers, accepting with a prep time, the voice
repeated with the chime, the phone's header and the order history.

One server serves the module; reminders may follow each other at once here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from orderbell.services.accounts import create_merchant
from orderbell.storage.database import Database
from tests.browser.console import SPOKEN_NEW_ORDER, Console
from tests.browser.orders import customer_view, paid_order, remind
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
    # The shop's ladder cancels after 2 minutes: the card counts that down too.
    merchant = await api.merchant_token(kit.username)
    await api.ok(
        "PUT",
        "/admin/shop/escalation",
        token=merchant,
        header="token",
        json={"warnSeconds": 30, "notifySeconds": 60, "autoCancelMinutes": 2},
    )
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await console.open_settings()
    # Thresholds in minutes: 2.4 and 4.8 seconds here.
    for field, minutes in (("#settings-wait-amber", "0.04"), ("#settings-wait-red", "0.08")):
        await page.fill(field, minutes)
        await page.locator(field).dispatch_event("change")
    order = await paid_order(api, kit)
    timer = console.card(order["id"]).locator(".wait-timer")
    await expect(timer).to_have_attribute("data-level", "ok")
    await expect(timer).to_have_text(re.compile(r"^已等 0:0[0-2] · 1:5\d 后自动取消$"))
    await expect(timer).to_have_attribute("data-level", "amber", timeout=4000)
    await expect(timer).to_have_attribute("data-level", "red", timeout=5000)
    await expect(timer).to_have_text(re.compile(r"^已等 0:0[4-9] · 1:5\d 后自动取消$"))
    left = int(await timer.get_attribute("data-auto-cancel-left") or -1)
    assert 100 <= left <= 116, left
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


def minutes_after_payment(order: dict[str, Any]) -> float:
    """How many minutes after its payment the order is expected (times to the minute)."""
    paid = datetime.strptime(order["checkoutTime"], "%Y-%m-%d %H:%M")
    expected = datetime.strptime(order["estimatedDeliveryTime"], "%Y-%m-%d %H:%M")
    return (expected - paid) / timedelta(minutes=1)


async def test_accepting_offers_prep_times_and_the_customer_sees_the_choice(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    quick, usual = await paid_order(api, kit), await paid_order(api, kit)
    accept = console.card(usual["id"]).locator('[data-action="accept"]')
    await expect(accept).to_have_text("接单 · 20分钟")
    # The shop's usual time is a setting of the shop (every console, the server).
    await console.open_settings()
    await expect(page.locator("#settings-prep")).to_have_value("20")
    await page.fill("#settings-prep", "15")
    await page.locator("#settings-prep").dispatch_event("change")
    await expect(accept).to_have_text("接单 · 15分钟")
    merchant = await api.merchant_token(kit.username)
    profile = await api.ok("GET", "/admin/shop/profile", token=merchant, header="token")
    assert profile["prepMinutes"] == 15
    choices = console.card(quick["id"]).locator(".prep-choices [data-prep]")
    await expect(choices).to_have_count(4)
    assert await choices.evaluate_all("ns => ns.map(n => n.dataset.prep)") == [
        "10",
        "15",
        "20",
        "30",
    ]

    await console.card(quick["id"]).locator('[data-prep="30"]').click()
    await expect(console.column(3).locator(f'[data-order-id="{quick["id"]}"]')).to_be_visible()
    await accept.click()  # one tap: the usual time
    await expect(console.column(3).locator(f'[data-order-id="{usual["id"]}"]')).to_be_visible()
    seen_quick, seen_usual = await customer_view(api, quick), await customer_view(api, usual)
    assert 30 <= minutes_after_payment(seen_quick) <= 32, seen_quick
    assert 15 <= minutes_after_payment(seen_usual) <= 17, seen_usual
    # The accepted card shows the expected time.
    await expect(console.card(quick["id"]).locator(".time")).to_contain_text(
        seen_quick["estimatedDeliveryTime"]
    )
    assert console.errors == []
    await console.close()


async def test_the_spoken_line_repeats_with_the_chime_until_the_order_is_accepted(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await console.enable_sound()
    await console.set_repeat(1)
    await expect(page.locator("#settings-repeat-voice")).to_be_checked()
    order = await paid_order(api, kit)
    # Said when it came and again with the first repeat.
    spoken = await console.wait_spoken(2, within_ms=5000)
    assert {s["text"] for s in spoken} == {SPOKEN_NEW_ORDER}
    assert await console.chime_count("order") >= 2
    await console.card(order["id"]).locator('[data-action="accept"]').click()
    await expect(console.column(3).locator(".card")).to_have_count(1)
    after = len(await console.spoken())
    await page.wait_for_timeout(1500)
    assert len(await console.spoken()) == after, "quiet once accepted"

    # Switched off: the chime repeats alone.
    await page.locator("#settings-repeat-voice").uncheck()
    second = await paid_order(api, kit)
    since = await console.now()
    await console.wait_chimes("order", 2, since=since, within_ms=5000)
    assert len(await console.spoken()) == after + 1, "said once, when it came"
    await console.card(second["id"]).locator('[data-action="accept"]').click()
    assert console.errors == []
    await console.close()


PHONE = {"width": 390, "height": 844}
TABLET_SMALL = {"width": 1024, "height": 768}

_PLACEHOLDER_FITS = """input => {
    const cs = getComputedStyle(input);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const room = input.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    return [ctx.measureText(input.placeholder).width, room];
}"""

_HEADER_ROWS = """() => {
    const bar = document.querySelector(".topbar");
    const shown = [...bar.children].filter(n => n.getClientRects().length > 0);
    const rects = shown.map(n => n.getBoundingClientRect());
    return {height: bar.getBoundingClientRect().height,
            centers: rects.map(r => Math.round(r.top + r.height / 2)),
            heights: rects.map(r => Math.round(r.height)),
            ids: shown.map(n => n.id || n.className),
            overflow: document.documentElement.scrollWidth - window.innerWidth};
}"""


async def test_a_phone_header_is_one_compact_row_and_the_reply_placeholder_fits(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url, "Demo Kitchen 海淀店")
    order = await paid_order(api, kit)
    await remind(api, order)
    console = await Console.open(browser, server, viewport=PHONE)
    page = console.page
    await console.login(kit.username)
    await console.enable_sound()
    custom = console.card(order["id"]).locator(".custom-reply")
    await expect(custom).to_be_visible()

    header = await page.evaluate(_HEADER_ROWS)
    assert header["height"] <= 56, header
    assert max(header["centers"]) - min(header["centers"]) <= 3, header
    assert {"shop", "connection", "sound-status", "settings-toggle"} <= set(header["ids"]), header
    assert header["overflow"] <= 0, header
    # Logging out moved into the settings.
    await console.open_settings()
    await expect(page.locator("#settings-logout")).to_be_visible()
    await page.click("#settings-toggle")

    for viewport, lang in (
        (PHONE, "zh"),
        (PHONE, "en"),
        (TABLET_SMALL, "zh"),
        (TABLET_SMALL, "en"),
    ):
        await page.set_viewport_size(viewport)
        await console.set_language(lang)
        await page.click("#settings-toggle")
        width, room = await custom.evaluate(_PLACEHOLDER_FITS)
        assert width <= room, (viewport, lang, width, room)
    await console.set_language("zh")
    assert console.errors == []
    await console.close()


async def test_the_history_lists_todays_orders_by_state_finds_them_and_tells_their_story(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    merchant = await api.merchant_token(kit.username)
    done, turned_down, waiting = [await paid_order(api, kit) for _ in range(3)]
    card = console.card(done["id"])
    await card.locator('[data-action="accept"]').click()
    await expect(card.locator('[data-action="deliver"]')).to_be_visible()
    await remind(api, done)
    await card.locator('[data-reply="cooking"]').click()
    await expect(card.locator(".reply-box")).to_have_count(0)
    await card.locator('[data-action="deliver"]').click()
    await card.locator('[data-action="complete"]').click()
    await expect(card).to_have_count(0)
    await api.ok(
        "PUT",
        "/admin/order/rejection",
        token=merchant,
        header="token",
        json={"id": turned_down["id"], "rejectionReason": "餐品已售完"},
    )
    await expect(console.card(turned_down["id"])).to_have_count(0)

    await page.click("#history-toggle")
    history = page.locator("#history")
    await expect(history).to_be_visible()
    await expect(history.locator('[data-state="all"] .history-count')).to_have_text("3")
    await expect(history.locator('[data-state="5"] .history-count')).to_have_text("1")
    await expect(history.locator('[data-state="6"] .history-count')).to_have_text("1")
    await history.locator('[data-state="5"]').click()
    rows = history.locator(".history-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-order-id", str(done["id"]))
    await history.locator('[data-state="all"]').click()
    await expect(rows).to_have_count(3)

    # By the phone's last four digits, then by (part of) the order number.
    phone = (await customer_view(api, turned_down))["phone"]
    await page.fill("#history-query", phone[-4:])
    await page.press("#history-query", "Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-order-id", str(turned_down["id"]))
    await page.fill("#history-query", waiting["orderNumber"][-8:])
    await page.press("#history-query", "Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-order-id", str(waiting["id"]))

    # An order's story: its alerts and who handled them.
    await page.fill("#history-query", done["orderNumber"])
    await page.press("#history-query", "Enter")
    await expect(rows).to_have_count(1)
    await rows.first.click()
    detail = page.locator("#history-detail")
    await expect(detail).to_be_visible()
    await expect(detail.locator(".history-status")).to_have_text("已完成")
    alerts = detail.locator(".history-alert")
    await expect(alerts).to_have_count(2)
    await expect(alerts.nth(0)).to_contain_text("待接单")
    await expect(alerts.nth(0)).to_contain_text(f"已接单 · {kit.username}")
    await expect(alerts.nth(1)).to_contain_text("催单")
    await expect(alerts.nth(1)).to_contain_text(f"已回复 · {kit.username}")
    await expect(alerts.nth(1)).to_contain_text("正在加急制作")
    await page.click("#history-toggle")
    await expect(history).to_be_hidden()
    assert console.errors == []
    await console.close()


async def test_offline_shows_a_banner_turns_buttons_off_and_sounds_an_alarm(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await console.enable_sound()
    await console.open_settings()
    await expect(page.locator("#settings-offline-alarm")).to_have_value("30")
    await page.fill("#settings-offline-alarm", "1")
    await page.locator("#settings-offline-alarm").dispatch_event("change")
    order = await paid_order(api, kit)
    accept = console.card(order["id"]).locator('[data-action="accept"]')
    await expect(accept).to_be_enabled()
    banner = page.locator("#offline-banner")
    await expect(banner).to_be_hidden()

    # The module's server, stopped and started again (whatever happens here).
    server.stop()
    try:
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("新订单无法送达")
        await expect(accept).to_be_disabled()
        await expect(console.card(order["id"]).locator("[data-prep]").first).to_be_disabled()
        since = await console.now()
        await console.wait_chimes("offline", 2, since=since, within_ms=5000)
    finally:
        server.start()
    # As when the network comes back: retry now rather than at the backoff's next turn.
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await console.wait_connected(within_ms=20_000)
    await expect(banner).to_be_hidden()
    await expect(accept).to_be_enabled()
    quiet = await console.now()
    await page.wait_for_timeout(1500)
    assert await console.chime_count("offline", since=quiet) == 0
    assert console.errors == []
    await console.close()
