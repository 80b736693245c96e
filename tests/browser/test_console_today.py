"""The console page and the response-time report: the "today" panel's numbers and
chart, and the page's ``ack`` frames for an alert it shows and rings."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Order, utcnow
from tests.browser.console import Console
from tests.browser.orders import paid_order
from tests.e2e.server import Api, Server, new_shop
from tests.support.polling import wait_until


async def accepted_after(database_url: str, order_id: int, seconds: float) -> None:
    """Make the order's wait from payment to acceptance ``seconds``, ending now."""
    db = Database(database_url)
    now = utcnow()
    try:
        async with db.transaction() as session:
            await session.execute(
                update(Order)
                .where(Order.id == order_id)
                .values(checkout_time=now - timedelta(seconds=seconds), accepted_at=now)
            )
    finally:
        await db.dispose()


async def first_times(database_url: str, order_id: int) -> tuple[object, object] | None:
    """(first_shown_at, first_rung_at) of the order's new-order alert, once both are set."""
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            row = (
                await session.execute(
                    select(AlertRow.first_shown_at, AlertRow.first_rung_at).where(
                        AlertRow.order_id == order_id, AlertRow.type == 1
                    )
                )
            ).one()
    finally:
        await db.dispose()
    return (row[0], row[1]) if row[0] is not None and row[1] is not None else None


async def test_the_today_panel_shows_the_numbers_and_the_chart_and_the_page_acks_alerts(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    token = await api.merchant_token(kit.username)
    done = await paid_order(api, kit)
    await api.ok(
        "PUT", "/admin/order/confirm", token=token, header="token", json={"id": done["id"]}
    )
    await accepted_after(server.database_url, done["id"], 42)
    waiting = await paid_order(api, kit)
    hour = datetime.now(ZoneInfo("Asia/Shanghai")).hour

    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)
    today = page.locator("#today")
    await expect(today.locator(".today-summary")).to_have_text("2 单 · 接单中位 42 秒")

    # The waiting order's alert is on the (visible) page: shown. Once sound is
    # on, its chime plays: rung.
    await expect(console.notices).to_have_count(1)
    await console.enable_sound()
    await console.wait_chimes("order", 1)
    shown, rung = await wait_until(
        lambda: first_times(server.database_url, waiting["id"]), what="shown and rung"
    )
    assert isinstance(shown, datetime) and isinstance(rung, datetime)
    assert shown <= rung, "on screen at login, rung once sound was switched on"

    # Opened, the panel reads the numbers again: the first ring is in them now.
    await today.locator("summary").click()
    stat = today.locator(".today-stat")
    await expect(stat.locator("dd")).to_have_text(
        ["2", "1", "0", re.compile(r"^\d+ 秒$"), "42 秒", "42 秒", "0.00"]
    )
    await expect(today.locator(".today-bar")).to_have_count(1)
    await expect(today.locator(".today-bar")).to_have_attribute("data-hour", str(hour))
    await expect(today.locator(".today-p90")).to_have_count(1)
    bar = await today.locator(".today-bar").bounding_box()
    assert bar is not None and bar["height"] > 20, "the bar is drawn, and tall: 42 s of 50"

    await console.set_language("en")
    await expect(today.locator(".today-summary")).to_have_text("2 orders · median to accept 42 s")
    assert console.errors == []
    await console.close()
