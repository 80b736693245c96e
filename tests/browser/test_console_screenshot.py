"""A console with orders in every column, as a tablet shows it; the picture in the README.

The picture is written to docs/images/console.png when it is missing or when
ORDERBELL_UPDATE_SCREENSHOT=1 (and otherwise to a temporary folder), so that
running the tests does not change a committed file each time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from orderbell.services.accounts import create_merchant
from orderbell.storage.database import Database
from tests.browser.console import Console
from tests.browser.orders import paid_order, remind
from tests.e2e.server import PASSWORD, Api, Server, new_shop

PICTURE = Path(__file__).resolve().parents[2] / "docs" / "images" / "console.png"


def has_chinese_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


async def test_a_board_with_orders_in_every_column(
    browser: Browser, server: Server, api: Api, tmp_path: Path
) -> None:
    kit = await new_shop(server.database_url, "Demo Kitchen")
    db = Database(server.database_url)
    try:
        username = f"front{int(time.time() * 1000) % 10**9}"
        await create_merchant(
            db, shop_id=kit.shop_id, username=username, password=PASSWORD, name="Demo Kitchen 前台"
        )
    finally:
        await db.dispose()
    console = await Console.open(browser, server)
    page = console.page
    await console.login(username)
    await console.enable_sound()

    rice, chicken = kit.dish_ids[1], kit.dish_ids[0]
    out = await paid_order(api, kit, dishes=[chicken, rice, rice])
    cooking = await paid_order(api, kit, dishes=[chicken, chicken, rice, rice])
    for order, moves in ((out, ["accept", "deliver"]), (cooking, ["accept"])):
        for move in moves:
            await console.card(order["id"]).locator(f'[data-action="{move}"]').click()
    await expect(console.column(4).locator(".card")).to_have_count(1)
    await expect(console.column(3).locator(".card")).to_have_count(1)
    await remind(api, cooking)
    hurried = await paid_order(api, kit, dishes=[chicken, rice], remark="不要香菜，谢谢")
    await remind(api, hurried)
    await paid_order(api, kit, dishes=[chicken, chicken, rice, rice, rice], remark="少放辣，多加葱")

    await expect(console.column(2).locator(".card")).to_have_count(2)
    await expect(console.cards.locator(".flag-reminder")).to_have_count(2)
    # One notice per order that needs action: the hurried new order's is one chip.
    await expect(console.notices).to_have_count(3)
    await expect(page.locator("#sound-status")).to_have_attribute("data-state", "on")
    await console.wait_connected()
    # A steady frame: every animation that ends has ended (a new order's
    # card pulses on until it is accepted).
    await page.evaluate(
        """Promise.all(document.getAnimations()
            .filter(a => a.effect.getComputedTiming().iterations !== Infinity)
            .map(a => a.finished))"""
    )

    update = os.environ.get("ORDERBELL_UPDATE_SCREENSHOT") == "1" or not PICTURE.exists()
    target = PICTURE if update else tmp_path / "console.png"
    if update and not has_chinese_font():
        pytest.fail("a Chinese font is needed for the picture: apt-get install fonts-wqy-microhei")
    target.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target), animations="disabled", full_page=True)
    assert target.stat().st_size > 10_000
    assert console.errors == []
    await console.close()
