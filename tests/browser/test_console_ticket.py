"""The console of a shop without a printer: a "ticket" button on each card shows the
order's kitchen ticket as text; a shop with a printer that is down sees a warning."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.console import Console
from tests.browser.orders import paid_order
from tests.e2e.server import Api, Server, free_port, new_shop


async def test_the_ticket_preview_and_a_printer_warning(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url, "预览小馆")
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    order = await paid_order(api, kit)
    card = console.card(order["id"])
    await card.locator('[data-action="ticket"]').click()
    dialog = page.locator("#ticket-dialog")
    await expect(dialog).to_be_visible()
    text = page.locator("#ticket-text")
    await expect(text).to_contain_text("预览小馆")
    await expect(text).to_contain_text(order["orderNumber"])
    await expect(text).to_contain_text("宫保鸡丁")
    await dialog.locator("button[type=submit]").click()
    await expect(dialog).to_be_hidden()
    assert console.errors == []
    await console.close()

    # With a printer (here one nobody answers for), no ticket button, and a warning.
    merchant = await api.merchant_token(kit.username)
    await api.ok(
        "POST",
        "/admin/printers",
        token=merchant,
        header="token",
        json={"kind": "escpos-tcp", "address": f"127.0.0.1:{free_port()}", "name": "后厨"},
    )
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    await expect(console.card(order["id"])).to_be_visible()
    await expect(page.locator(".printer-warning")).to_contain_text("后厨")
    await expect(console.card(order["id"]).locator('[data-action="ticket"]')).to_have_count(0)
    await console.close()
