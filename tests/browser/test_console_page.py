"""The console page as files: served by orderbell, self-contained, no markup built from data;
and order text shown in a real browser as text, never run."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, expect

from orderbell.web.routes.console_page import STATIC_DIR
from tests.browser.console import Console
from tests.e2e.server import Api, Server, new_shop

# Ways to turn a string into markup or code; the console uses none of them.
UNSAFE_SINKS = re.compile(
    r"\b(?:innerHTML|outerHTML|insertAdjacentHTML|createContextualFragment|srcdoc)\b"
    r"|document\.write|\beval\(|new Function\("
)


def test_the_page_and_its_files_are_served_from_the_package(server: Server) -> None:
    with httpx.Client(base_url=server.base_url) as http:
        root = http.get("/", follow_redirects=False)
        assert root.status_code == 307
        assert http.get("/", follow_redirects=True).url.path == "/console"

        page = http.get("/console")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert references, "the page loads its script and style sheet"
        for ref in references:
            assert ref.startswith("console/assets/"), ref
            asset = http.get(f"/{ref}")
            assert asset.status_code == 200, ref

        for name in ("app.js", "console.css"):
            response = http.get(f"/console/assets/{name}")
            assert response.status_code == 200
        assert (
            http.get("/console/assets/app.js").headers["content-type"].startswith("text/javascript")
        )
        for bad in ("index.html", "..%2Froutes%2Fconsole_page.py", "nope.js", "%2Fetc%2Fpasswd"):
            assert http.get(f"/console/assets/{bad}").status_code == 404, bad


def test_the_page_needs_nothing_from_elsewhere_and_builds_no_markup_from_strings() -> None:
    files = sorted(p for p in STATIC_DIR.iterdir() if p.is_file())
    assert {p.suffix for p in files} >= {".html", ".js", ".css"}
    names = {p.name for p in files}
    for path in files:
        if path.suffix == ".png":
            continue  # the app's icons
        text = path.read_text(encoding="utf-8")
        # The one URL allowed is the SVG namespace, which is a name, not a fetch.
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{path.name} refers to {urls}"
        if path.suffix == ".js":
            assert not UNSAFE_SINKS.search(text), f"{path.name} builds markup from a string"
            for module in re.findall(r'from "\./([^"]+)"', text):
                assert module in names, f"{path.name} imports a missing {module}"


async def test_order_text_is_shown_as_text_and_never_run(
    browser: Browser, server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    console = await Console.open(browser, server)
    page = console.page
    await console.login(kit.username)

    customer, _ = await api.new_customer()
    address = await api.ok(
        "POST",
        "/user/addressBook",
        token=customer,
        json={
            "consignee": "<b>王五</b>",
            "phone": "13900000000",
            "detail": "<script>window.__pwned = 1</script>科技路 8 号",
        },
    )
    remark = "<img src=x onerror=alert(1)>"
    order = await api.place_order(customer, int(address["id"]), [kit.dish_ids[0]], remark)
    await api.pay(customer, order["orderNumber"])

    card = console.card(order["id"])
    await expect(card.locator(".remark-text")).to_have_text(remark)
    await expect(card.locator(".address-text")).to_contain_text("<b>王五</b>")
    await expect(card.locator(".address-text")).to_contain_text(
        "<script>window.__pwned = 1</script>"
    )
    assert await page.locator("#board img, #board script, #board b").count() == 0
    await page.wait_for_timeout(500)
    assert console.dialogs == []
    assert await page.evaluate("window.__pwned") is None
    assert console.errors == []
    await console.close()


async def test_reconnect_delays_double_up_to_a_cap_with_jitter(
    browser: Browser, server: Server
) -> None:
    context = await browser.new_context(base_url=server.base_url)
    page = await context.new_page()
    await page.goto("/console")
    attempts = [1, 2, 3, 4, 5, 6, 7, 8, 20]
    samples = await page.evaluate(
        """async (attempts) => {
            const { backoffDelay } = await import("./console/assets/alert-stream.js");
            return attempts.map((n) => Array.from({ length: 200 }, () => backoffDelay(n)));
        }""",
        attempts,
    )
    for attempt, delays in zip(attempts, samples, strict=True):
        ceiling = min(30_000, 500 * 2 ** (attempt - 1))
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > ceiling * 0.2, "delays are spread, not in step"
    await context.close()
