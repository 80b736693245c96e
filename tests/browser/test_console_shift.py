"""The console through a real shift: the shop's name in the header, one notice per
order that needs action, waiting timers, accepting with a prep time, the voice
repeated with the chime, the phone's header and the order history.

One server serves the module; reminders may follow each other at once here.
"""

from __future__ import annotations

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
        Path(tmp_path_factory.mktemp("shift")), reminder_interval_seconds="0"
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
