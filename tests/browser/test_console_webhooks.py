"""The console page in a real browser warns about the shop's disabled webhook
endpoints: those disabled before it connected, and one disabled while it is open
(the ``webhookDisabled`` frame)."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Browser, expect

from orderbell.services.webhooks import new_secret
from orderbell.storage.database import Database
from orderbell.storage.tables import WebhookEndpoint, utcnow
from tests.browser.console import Console
from tests.e2e.server import Api, Server, new_shop

# TEST-NET addresses: refused by the server (not public), so every attempt fails.
OLD = "http://192.0.2.10/old-pos"
FAILING = "http://192.0.2.11/sms"


async def _endpoints(server: Server, shop_id: int) -> tuple[int, int]:
    db = Database(server.database_url)
    try:
        async with db.transaction() as session:
            old = WebhookEndpoint(
                shop_id=shop_id,
                url=OLD,
                events="order.paid",
                secret=new_secret(),
                enabled=False,
                disabled_at=utcnow(),
                disabled_reason="failed without a success for 24 hours",
            )
            # Failing for a day already: its next failure disables it.
            failing = WebhookEndpoint(
                shop_id=shop_id,
                url=FAILING,
                events="webhook.test",
                secret=new_secret(),
                failing_since=utcnow() - timedelta(hours=25),
            )
            session.add_all([old, failing])
            await session.flush()
            return old.id, failing.id
    finally:
        await db.dispose()


async def test_the_console_warns_about_disabled_webhooks(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    old, failing = await _endpoints(server, kit.shop_id)
    console = await Console.open(browser, server)
    try:
        await console.login(kit.username)
        warnings = console.page.locator("#webhook-warnings .webhook-warning")
        await expect(warnings).to_have_count(1)
        await expect(warnings.first).to_contain_text(OLD)
        await expect(warnings.first).to_have_attribute("data-endpoint", str(old))

        merchant = await api.merchant_token(kit.username)
        await api.ok("POST", f"/admin/webhooks/{failing}/test", token=merchant, header="token")
        # The attempt fails, the endpoint has failed for a day: it is disabled
        # and the open console is told at once.
        await expect(warnings).to_have_count(2)
        await expect(warnings.nth(1)).to_contain_text(FAILING)
        await expect(warnings.nth(1)).to_contain_text("已停用")
        listed = await api.ok("GET", "/admin/webhooks", token=merchant, header="token")
        assert {e["id"]: e["enabled"] for e in listed} == {old: False, failing: False}
        assert not console.errors
    finally:
        await console.close()
