"""The console page in a real browser: cards, notices, sounds and speech for a shop's alerts."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from orderbell.services.publishing import create_api_key
from orderbell.storage.database import Database
from tests.browser.console import SPOKEN_NEW_ORDER, Console
from tests.browser.orders import customer_view, paid_order, remind, shop_view
from tests.e2e.server import PASSWORD, Api, Server, new_shop
from tests.support.polling import wait_until


async def test_a_paid_order_shows_a_card_rings_and_speaks(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await expect(page.locator("#sound-status")).to_have_attribute("data-state", "off")
    await console.enable_sound()
    assert await console.chimes() == ["check"]
    await expect(console.column(2).locator(".empty")).to_be_visible()

    customer = await api.new_customer()
    order = await api.place_order(
        customer[0],
        customer[1],
        [kit.dish_ids[0], kit.dish_ids[0], kit.dish_ids[1]],
        "少放辣，多加葱",
    )
    since = await console.now()
    await api.pay(customer[0], order["orderNumber"])
    card = console.column(2).locator(f'.card[data-order-id="{order["id"]}"]')
    await expect(card).to_be_visible(timeout=2000)

    number = order["orderNumber"]
    await expect(card.locator(".tail")).to_have_text(f"#{number[-4:]}")
    await expect(card.locator(".number-value")).to_have_text(number)
    await expect(card.locator(".items li")).to_have_text(["2×宫保鸡丁", "1×米饭"])
    await expect(card.locator(".amount")).to_have_text(f"¥{order['orderAmount']:.2f}")
    await expect(card.locator(".remark-text")).to_have_text("少放辣，多加葱")
    await expect(card.locator(".address-text")).to_contain_text("李四")
    await expect(card.locator(".address-text")).to_contain_text("测试路 1 号")
    await expect(card.locator(".time")).to_contain_text(order["orderTime"])
    await expect(card.locator(".flag-new")).to_have_text("待接单")
    await expect(console.notices).to_have_count(1)
    await expect(console.notices.first).to_contain_text("待接单")
    await expect(console.notices.first).to_contain_text(f"#{number[-4:]}")
    await expect(console.notices.first).to_have_attribute(
        "title", f"您有1个订单待处理，订单号：{number}，请及时接单"
    )

    await console.wait_chimes("order", 1, since)
    [spoken] = await console.wait_spoken(1)
    assert (spoken["text"], spoken["lang"]) == (SPOKEN_NEW_ORDER, "zh-CN")
    played = await page.evaluate("window.__spy.chimes.at(-1).at")
    assert spoken["at"] >= played, "the spoken line comes after the chime"
    assert await console.chimes() == ["check", "order"]
    assert (await page.title()).startswith("(1) ")

    # A reload keeps the login and shows the board again from the server; the
    # browser wants a new click before it plays sound.
    await page.reload()
    await expect(card).to_be_visible()
    await expect(card.locator(".flag-new")).to_be_visible()
    await expect(page.locator("#sound-gate")).to_be_visible()
    await expect(page.locator("#login-view")).to_be_hidden()

    await console.enable_sound()  # the "start the shift" overlay: one tap
    await page.click("#logout")
    await expect(page.locator("#login-view")).to_be_visible()
    await page.reload()
    await expect(page.locator("#login-view")).to_be_visible()
    assert console.errors == []
    await console.close()


async def test_a_reminder_shows_its_notice_and_sound_and_can_be_answered(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    await console.login(kit.username)
    await console.enable_sound()
    order = await paid_order(api, kit)
    card = console.card(order["id"])
    await expect(card).to_be_visible()
    await console.wait_spoken(1)

    await card.locator('[data-action="accept"]').click()
    await expect(console.column(3).locator(f'.card[data-order-id="{order["id"]}"]')).to_be_visible()
    await expect(card.locator(".flag-new")).to_have_count(0)
    await expect(console.notices).to_have_count(0)
    assert (await shop_view(api, kit, order["id"]))["status"] == 3

    since = await console.now()
    spoken_before = 1
    await remind(api, order)
    await expect(card.locator(".flag-reminder")).to_have_text("催单")
    await expect(console.notices).to_have_count(1)
    await expect(console.notices.first).to_contain_text("催单")
    await console.wait_chimes("reminder", 1, since)
    assert await console.chime_count("order", since) == 0, "a reminder has its own sound"
    spoken = (await console.wait_spoken(spoken_before + 1))[-1]
    tail = order["orderNumber"][-4:]
    assert (spoken["text"], spoken["lang"]) == (f"顾客催单，订单号尾号 {tail}", "zh-CN")

    await card.locator('[data-reply="cooking"]').click()
    await expect(card.locator(".flag-reminder")).to_have_count(0)
    await expect(console.notices).to_have_count(0)
    assert (await customer_view(api, order))["reminderReply"] == "正在加急制作中"

    # In English, and with a reply in the shop's own words (another order: a
    # customer may not remind again so soon).
    await console.set_language("en")
    await expect(console.column(3).locator("h2")).to_contain_text("Accepted")
    second = await paid_order(api, kit)
    other_card = console.card(second["id"])
    await expect(other_card.locator(".flag-new")).to_have_text("New order")
    await remind(api, second)
    await expect(other_card.locator(".flag-reminder")).to_have_text("Reminder")
    spoken = (await console.wait_spoken(spoken_before + 3))[-1]
    other_tail = second["orderNumber"][-4:]
    assert (spoken["text"], spoken["lang"]) == (
        f"Customer reminder, order ending {other_tail}",
        "en-US",
    )
    custom = other_card.locator(".custom-reply")
    await expect(custom).to_have_attribute("maxlength", "30")
    await custom.fill("Ten more minutes, sorry")
    await other_card.locator('[data-reply="custom"]').click()
    await expect(other_card.locator(".flag-reminder")).to_have_count(0)
    await expect(other_card.locator(".flag-new")).to_be_visible()
    assert (await customer_view(api, second))["reminderReply"] == "Ten more minutes, sorry"

    await card.locator('[data-action="deliver"]').click()
    await expect(console.column(4).locator(f'.card[data-order-id="{order["id"]}"]')).to_be_visible()
    await card.locator('[data-action="complete"]').click()
    await expect(card).to_have_count(0)
    assert (await shop_view(api, kit, order["id"]))["status"] == 5
    assert console.errors == []
    await console.close()


async def test_rejecting_asks_for_a_reason_and_sends_it(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    await console.login(kit.username)
    await console.enable_sound()
    order = await paid_order(api, kit)
    card = console.card(order["id"])
    await expect(card.locator(".flag-new")).to_be_visible()

    await card.locator('[data-action="reject"]').click()
    dialog = console.page.locator("#reject-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#reject-other").fill("今天食材不足")
    await dialog.locator("#reject-confirm").click()
    await expect(dialog).to_be_hidden()
    await expect(card).to_have_count(0)
    await expect(console.notices).to_have_count(0)
    seen = await shop_view(api, kit, order["id"])
    assert (seen["status"], seen["rejectionReason"]) == (6, "今天食材不足")
    assert console.dialogs == [] and console.errors == []
    await console.close()


async def test_two_consoles_stop_ringing_together_and_another_shop_hears_nothing(
    browser: Browser, server: Server, api: Api
) -> None:
    kit, other_kit = await new_shop(server.database_url), await new_shop(server.database_url)
    first, second = await Console.open(browser, server), await Console.open(browser, server)
    other = await Console.open(browser, server)
    for console, shop in ((first, kit), (second, kit), (other, other_kit)):
        await console.login(shop.username)
        await console.enable_sound()
    for console in (first, second):
        await console.set_repeat(1)

    order = await paid_order(api, kit)
    for console in (first, second):
        await expect(console.card(order["id"]).locator(".flag-new")).to_be_visible()
        # The alert's chime, then at least two repeats a second apart.
        await console.wait_chimes("order", 3, within_ms=5000)

    await first.card(order["id"]).locator('[data-action="accept"]').click()
    for console in (first, second):
        accepted = console.column(3).locator(f'.card[data-order-id="{order["id"]}"]')
        await expect(accepted).to_be_visible()
        await expect(accepted.locator(".flag-new")).to_have_count(0)
        await expect(console.notices).to_have_count(0)
    counts = [await c.chime_count("order") for c in (first, second)]
    await first.page.wait_for_timeout(2500)
    assert [await c.chime_count("order") for c in (first, second)] == counts, "still ringing"

    assert await other.chimes() == ["check"]
    assert await other.cards.count() == 0
    assert await other.notices.count() == 0
    assert await other.spoken() == []
    assert not (await other.page.title()).startswith("(")
    for console in (first, second, other):
        assert console.errors == []
        await console.close()


async def test_a_hidden_tab_gets_a_desktop_notification_and_counts_in_its_title(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    assert await page.title() == "订单提醒 · orderbell"

    await page.evaluate("window.__setHidden(true)")
    order = await paid_order(api, kit)
    await page.wait_for_function("window.__spy.notifications.length === 1")
    [note] = await page.evaluate("window.__spy.notifications")
    assert note["title"] == f"待接单 #{order['orderNumber'][-4:]}"
    assert order["orderNumber"] in note["body"]
    assert await page.title() == "(1) 订单提醒 · orderbell"

    # In view again: the title counts orders that need action, not alerts (the
    # reminder of the same order leaves it at one), and no notification pops up.
    await page.evaluate("window.__setHidden(false)")
    await remind(api, order)
    await expect(console.card(order["id"]).locator(".flag-reminder")).to_be_visible()
    await expect(page).to_have_title("(1) 订单提醒 · orderbell")
    await expect(console.notices).to_have_count(1)
    assert len(await page.evaluate("window.__spy.notifications")) == 1
    await console.close()


async def test_settings_are_remembered_and_mute_silences_alerts(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await console.enable_sound()
    await console.set_language("en")
    await page.locator("#settings-volume").fill("40")
    await page.check("#settings-mute")
    await console.set_repeat(7)
    await expect(page.locator("#sound-status")).to_have_text("Sound: muted")

    await page.reload()
    await console.wait_connected()
    assert await page.locator("#settings-lang").input_value() == "en"
    assert await page.locator("#settings-volume").input_value() == "40"
    assert await page.locator("#settings-mute").is_checked()
    assert await page.locator("#settings-repeat").input_value() == "7"
    await expect(page.locator("#logout")).to_have_text("Log out")
    await expect(page.locator("#sound-status")).to_have_text("Sound: muted")
    await expect(page.locator("#sound-gate")).to_be_hidden()

    order = await paid_order(api, kit)
    await expect(console.card(order["id"]).locator(".flag-new")).to_have_text("New order")
    await page.wait_for_timeout(300)
    assert await console.chimes() == [] and await console.spoken() == []

    await console.open_settings()
    await page.uncheck("#settings-mute")
    await expect(page.locator("#sound-status")).to_have_text("Sound: OFF")
    await page.click("#shift-overlay")
    # Switching sound on while an order waits rings for it at once.
    await console.wait_chimes("order", 1)
    await page.click("#settings-test")
    [spoken] = await console.wait_spoken(1)
    assert spoken["text"] == "You have a new takeout order. Please handle it promptly."
    assert abs(spoken["volume"] - 0.4) < 0.01
    assert console.errors == []
    await console.close()


async def test_an_alert_from_another_order_system_is_announced_once_and_put_away_by_hand(
    browser: Browser, server: Server
) -> None:
    kit = await new_shop(server.database_url)
    db = Database(server.database_url)
    try:
        key = (await create_api_key(db, kit.shop_id, "order backend")).key
    finally:
        await db.dispose()
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await console.enable_sound()
    await console.set_repeat(1)

    since = await console.now()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        published = await http.post(
            f"/api/v1/shops/{kit.shop_id}/alerts",
            headers={"X-Api-Key": key},
            json={"type": 1, "orderNumber": "1700000000042", "orderId": 42, "text": "3号桌"},
        )
    assert published.status_code == 201, published.text
    notice = console.notices.first
    await expect(notice).to_contain_text("订单号：1700000000042，3号桌")
    [spoken] = await console.wait_spoken(1)
    assert spoken["text"] == SPOKEN_NEW_ORDER
    # Nothing on this console can handle it, so it does not ring on (nor fetch a card).
    await page.wait_for_timeout(2500)
    assert await console.chime_count("order", since) == 1
    assert await console.cards.count() == 0
    assert (await page.title()).startswith("(1) ")

    await notice.click()
    await expect(console.notices).to_have_count(0)
    assert not (await page.title()).startswith("(")
    # Put away on the server too, so every console of the shop drops it.
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        login = await http.post(
            "/admin/employee/login", json={"username": kit.username, "password": PASSWORD}
        )
        headers = {"token": login.json()["data"]["token"]}

        async def put_away() -> bool:
            answer = await http.get("/admin/alert/unhandled", headers=headers)
            return answer.json()["data"] == []

        await wait_until(put_away, 10, interval=0.1, what="the alert to be put away on the server")
    assert console.errors == []
    await console.close()
