"""The console page in Debian's chromium (headless), against a real server process.

One server and one browser serve every test here (each test has its own shop
and its own browser context); starting them once keeps the suite short. They
live on one event loop for the session, so the browser tests run on it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.e2e.server import Api, Server, running_server

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if pytest_asyncio.is_async_test(item) and HERE in item.path.parents:
            item.add_marker(session_loop, append=False)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(Path(tmp_path_factory.mktemp("browser"))) as srv:
        yield srv


@pytest_asyncio.fixture(loop_scope="session")
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server)
    yield client
    await client.aclose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def no_page_left_open(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Close what a test left open (a test that failed before its ``close``): a
    console page left running keeps ringing, polling and reconnecting, and would
    take CPU from every test after it for the rest of the session."""
    yield
    if "browser" not in request.fixturenames:
        return
    browser: Browser = request.getfixturevalue("browser")
    for context in list(browser.contexts):
        await context.close()
