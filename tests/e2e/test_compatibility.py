"""The fast paths that reach into uvicorn, websockets and aiosqlite, on real servers.

With the pinned releases a caught-up console is handed off ASGI (this test
fails the build when an upgrade stops that). When an upgrade takes away a
name they use (simulated by ``renamed.py``), the server says so once at
startup and works on the libraries' public paths: consoles still get their
alerts. What a console sends wrong is its fault, logged in one line at most.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e.server import Api, Server, collect, new_shop, running_server
from tests.support.metrics import metric as sample

RENAMED = str(Path(__file__).with_name("renamed.py"))
#: A name only orderbell's hand-off calls on uvicorn's protocol ...
UVICORN_NAME = (
    "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.stop_keepalive"
)
#: ... and the aiosqlite method the inline SQLite connection overrides.
AIOSQLITE_NAME = "aiosqlite:Connection._execute"


@contextmanager
def upgraded(tmp: Path, name: str) -> Iterator[Server]:
    """A server whose ``name`` an upgrade took away, logging at INFO."""
    command = [sys.executable, RENAMED, name, "serve", "--port", "{port}"]
    with running_server(tmp, command=command, log_level="info") as server:
        yield server


@pytest.fixture(scope="module")
def no_hand_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with upgraded(tmp_path_factory.mktemp("no-hand-off"), UVICORN_NAME) as server:
        yield server


def log_lines(server: Server, level: str) -> list[str]:
    return [line for line in server.log_path.read_text().splitlines() if f" {level} " in line]


async def metric(api: Api, name: str) -> float:
    return sample((await api.http.get("/metrics")).text, name)


async def live_consoles(api: Api, expected: float, within: float = 5) -> float:
    """``orderbell_consoles_live`` once it reads ``expected`` (or when time is up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (value := await metric(api, "orderbell_consoles_live")) != expected:
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    return value


async def an_alert_reaches_a_caught_up_console(server: Server, api: Api) -> float:
    """Connect a console, pay an order, check its alert; the live-console count meanwhile."""
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    async with websockets.connect(server.ws_url(merchant, protocol="2")) as ws:
        assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
        assert await metric(api, "orderbell_consoles_connected") >= 1
        live = await live_consoles(api, 1)
        order = await api.place_order(customer, address, [kit.dish_ids[0]])
        await api.pay(customer, order["orderNumber"])
        [alert] = await collect(ws, 1)
        assert (alert["type"], alert["orderId"]) == (1, order["id"])
    return live


async def test_with_the_pinned_releases_a_caught_up_console_is_handed_off(
    server: Server, api: Api
) -> None:
    assert await an_alert_reaches_a_caught_up_console(server, api) == 1, (
        "the console was not handed off: an upgrade of uvicorn or websockets broke "
        "web/ws_protocol.py"
    )
    assert "live consoles are off" not in server.log_path.read_text()
    assert "SQLite statements run on aiosqlite's worker thread" not in server.log_path.read_text()


async def test_without_a_name_the_hand_off_needs_consoles_stay_on_asgi_and_get_alerts(
    no_hand_off: Server,
) -> None:
    [warning] = log_lines(no_hand_off, "WARNING")
    assert "live consoles are off" in warning and "stop_keepalive" in warning
    assert "uvicorn 0." in warning and "docs/performance.md" in warning
    api = Api(no_hand_off)
    try:
        assert await an_alert_reaches_a_caught_up_console(no_hand_off, api) == 0
    finally:
        await api.aclose()
    assert log_lines(no_hand_off, "WARNING") == [warning], "said once, at startup"
    assert not log_lines(no_hand_off, "ERROR")


async def test_a_text_frame_that_is_not_utf8_costs_one_info_line_and_a_1007(
    no_hand_off: Server,
) -> None:
    """On the ASGI path (here: consoles stay there), uvicorn decodes the frame."""
    api = Api(no_hand_off)
    try:
        kit = await new_shop(no_hand_off.database_url)
        merchant = await api.merchant_token(kit.username)
    finally:
        await api.aclose()
    before = no_hand_off.log_path.read_text().splitlines()
    async with websockets.connect(no_hand_off.ws_url(merchant, protocol="2")) as ws:
        await collect(ws, 2)
        await ws.send(b"\xff\xfe order", text=True)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        added = no_hand_off.log_path.read_text().splitlines()[len(before) :]
        about = [line for line in added if "UTF-8" in line]
        if about or loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert len(about) == 1 and " INFO " in about[0], added
    assert not [line for line in added if " ERROR " in line or "Traceback" in line], added


async def test_without_the_aiosqlite_method_it_overrides_sqlite_runs_on_aiosqlite(
    tmp_path: Path,
) -> None:
    with upgraded(tmp_path, AIOSQLITE_NAME) as server:
        [warning] = log_lines(server, "WARNING")
        assert "SQLite statements run on aiosqlite's worker thread" in warning
        assert "aiosqlite 0." in warning and "_execute" in warning
        api = Api(server)
        try:
            # Orders are written, alerts stored and delivered, on plain aiosqlite.
            assert await an_alert_reaches_a_caught_up_console(server, api) == 1
        finally:
            await api.aclose()
        assert log_lines(server, "WARNING") == [warning]
        assert not log_lines(server, "ERROR")


async def test_an_unexpected_error_in_the_console_endpoint_is_a_warning(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
        finally:
            await api.aclose()
        # The alert log is gone from under the server: the replay fails.
        path = server.database_url.split("///", 1)[1]
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE alert RENAME TO alert_away")
        async with websockets.connect(server.ws_url(merchant, protocol="2", since="0")) as ws:
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
        about = f"WARNING orderbell.web.console_socket: console of shop {kit.shop_id} "
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while about not in (log := server.log_path.read_text()) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert about + "ended with an unexpected error" in log, server.log()
        assert "Traceback" in log and "no such table: alert" in log
