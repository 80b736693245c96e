"""The console socket and the browser's view of the API: origins (cross-site
WebSocket hijacking, CORS), frame size, frames the protocol does not know,
a flooding console, and the cap on consoles per shop."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.security.attack import serve
from tests.support.frames import collect, silence
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, new_shop

ALLOWED = "https://console.example"
CAP = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(
        Path(tmp_path_factory.mktemp("socket")),
        allowed_origins=f"{ALLOWED}, http://localhost:5173",
        max_consoles_per_shop=str(CAP),
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def shop(server: Server) -> tuple[int, str]:
    """A shop of its own and its merchant's token."""

    async def make() -> tuple[int, str]:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            return kit.shop_id, await api.merchant_token(kit.username)
        finally:
            await api.aclose()

    return asyncio.run(make())


async def _opens(url: str, origin: str | None) -> bool:
    """Whether the handshake succeeds and the console is then live (no close)."""
    try:
        async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            return await silence(ws, 0.3) == []
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


async def test_pages_of_foreign_sites_cannot_open_a_console(
    server: Server, shop: tuple[int, str]
) -> None:
    url = server.ws_url(shop[1], sid="origin")
    port = server.port
    allowed = [
        None,  # not a browser: the token is all there is
        f"http://127.0.0.1:{port}",  # the console page served by orderbell itself
        f"HTTP://127.0.0.1:{port}",
        f"https://127.0.0.1:{port}",  # the same host behind TLS
        ALLOWED,
        ALLOWED + "/",
        "http://localhost:5173",
    ]
    refused = [
        "https://evil.example",
        "null",  # sandboxed frames and files
        f"http://127.0.0.1:{port + 1}",
        f"http://127.0.0.1:{port}.evil.example",
        f"http://evil.example/127.0.0.1:{port}",
        f"http://evil.example#@127.0.0.1:{port}",
        "https://console.example.evil.example",
        "http://console.example",  # the allowed host, but not over TLS
        "ftp://127.0.0.1",
        "garbage",
    ]
    for origin in allowed:
        assert await _opens(url, origin), origin
    for origin in refused:
        assert not await _opens(url, origin), origin


async def test_cors_answers_only_the_allowed_origins(server: Server) -> None:
    preflight = {
        "access-control-request-method": "PUT",
        "access-control-request-headers": "token, content-type",
    }
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        ok = await http.options("/admin/order/confirm", headers={"origin": ALLOWED, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert "token" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers

        evil = await http.options(
            "/admin/order/confirm", headers={"origin": "https://evil.example", **preflight}
        )
        assert evil.status_code == 400
        assert "access-control-allow-origin" not in evil.headers

        read = await http.get("/user/shop/list", headers={"origin": "https://evil.example"})
        assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
        read = await http.get("/user/shop/list", headers={"origin": ALLOWED})
        assert read.headers["access-control-allow-origin"] == ALLOWED
        assert "retry-after" in read.headers["access-control-expose-headers"].lower()


def _code(closed: websockets.ConnectionClosed) -> int | None:
    return closed.rcvd.code if closed.rcvd else None


async def _closed_with(ws: Any, within: float = 5) -> int | None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
    return _code(closed.value)


async def test_frames_up_to_64_kib_are_ignored_larger_ones_close(
    server: Server, shop: tuple[int, str]
) -> None:
    url = server.ws_url(shop[1], sid="size", protocol="2")
    async with websockets.connect(url) as ws:
        assert orjson.loads(await ws.recv())["type"] == "hello"
        await ws.send("x" * (64 * 1024))
        await ws.send('{"type": "subscribe", "shopId": 999}')  # unknown to the protocol
        await ws.send("")
        assert (await ws.ping()) is not None
        assert [f["type"] for f in await collect(ws, 1, 3)] == ["synced"]
        await ws.send("x" * (64 * 1024 + 1))
        assert await _closed_with(ws) == 1009


async def test_binary_frames_close_the_console(server: Server, shop: tuple[int, str]) -> None:
    async with websockets.connect(server.ws_url(shop[1], sid="binary")) as ws:
        await ws.send(b"\x00\x01\x02")
        assert await _closed_with(ws) == 1003


FLOODER = """
import json, select, struct, sys, time, websocket
url, seconds = sys.argv[1], float(sys.argv[2])
codes, sent, deadline = [], 0, time.monotonic() + seconds
frame = "ping " * 1000
while time.monotonic() < deadline:
    ws = websocket.create_connection(url, timeout=5)
    if not codes:
        print("flooding", flush=True)
    code = None
    try:
        while time.monotonic() < deadline and code is None:
            ws.send(frame)
            sent += 1
            # Look for the server's close frame now and then, without waiting.
            if select.select([ws.sock], [], [], 0)[0]:
                opcode, data = ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = struct.unpack("!H", data[:2])[0]
    except (websocket.WebSocketException, OSError):
        pass
    if code is not None:
        codes.append(code)
    ws.close()
print(json.dumps({"codes": codes, "sent": sent}))
"""


async def test_a_flooding_console_is_closed_and_slows_no_one(server: Server) -> None:
    api = Api(server)
    kit = await new_shop(server.database_url, "Flooded Kitchen")
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    orders = [await api.place_order(customer, address, [kit.dish_ids[1]]) for _ in range(20)]
    paid_at: dict[int, float] = {}
    arrived: dict[int, list[float]] = {}

    async def listen(ws: Any) -> None:
        while True:
            frame = orjson.loads(await ws.recv())
            arrived.setdefault(frame["orderId"], []).append(time.monotonic())

    try:
        async with (
            # since=0: an alert raised before the server registered a calm
            # console still reaches it, by replay.
            websockets.connect(server.ws_url(merchant, sid="calm", since="0")) as one,
            websockets.connect(server.ws_url(merchant, sid="calm", since="0")) as two,
        ):
            # The attacker is another process, flooding (and coming back each
            # time it is thrown out) for as long as the alerts go out.
            flooder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                FLOODER,
                server.ws_url(merchant, sid="flood"),
                "4",
                stdout=asyncio.subprocess.PIPE,
            )
            listeners = [asyncio.create_task(listen(ws)) for ws in (one, two)]
            assert flooder.stdout is not None
            assert await asyncio.wait_for(flooder.stdout.readline(), 30) == b"flooding\n"
            for order in orders:
                await api.pay(customer, str(order["orderNumber"]))
                paid_at[int(order["id"])] = time.monotonic()
                await asyncio.sleep(0.1)  # the pace of a busy lunch, not a wait for anything
            with contextlib.suppress(AssertionError):  # the asserts below tell what is missing
                await wait_until(lambda: sum(map(len, arrived.values())) >= 40)
            out, _ = await asyncio.wait_for(flooder.communicate(), 30)
            for task in listeners:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await api.aclose()

    report = orjson.loads(out)
    assert sorted(arrived) == sorted(paid_at), "every alert reached the calm consoles"
    assert all(len(times) == 2 for times in arrived.values())
    lateness = [max(times) - paid_at[oid] for oid, times in arrived.items()]
    # A generous budget for a busy machine; a console held up by the flood
    # would wait for the flooder's cut-offs, seconds each.
    assert max(lateness) < 3.0, f"alerts arrived up to {max(lateness):.2f}s after payment"
    assert len(report["codes"]) >= 2 and set(report["codes"]) == {1008}, report
    assert report["sent"] >= 60 * len(report["codes"]), report


async def test_a_shop_has_at_most_its_cap_of_consoles(server: Server) -> None:
    api = Api(server)
    try:
        mine = await new_shop(server.database_url, "Capped Kitchen")
        other = await new_shop(server.database_url, "Other Kitchen")
        merchant = await api.merchant_token(mine.username)
        elsewhere = await api.merchant_token(other.username)
    finally:
        await api.aclose()
    async with contextlib.AsyncExitStack() as stack:
        consoles = [
            await stack.enter_async_context(websockets.connect(server.ws_url(merchant, sid=str(i))))
            for i in range(CAP)
        ]
        for ws in consoles:
            assert await silence(ws, 0.2) == []
        async with websockets.connect(server.ws_url(merchant, sid="one-too-many")) as extra:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(extra.recv(), 5)
            assert _code(closed.value) == 4429
            assert closed.value.rcvd is not None and "3 consoles" in closed.value.rcvd.reason
        # Another shop is not affected.
        async with websockets.connect(server.ws_url(elsewhere, sid="x")) as fine:
            assert await silence(fine, 0.3) == []
        # A console that leaves makes room.
        await consoles[0].close()
        deadline = time.monotonic() + 5
        while True:
            async with websockets.connect(server.ws_url(merchant, sid="again")) as again:
                if await silence(again, 0.3) == []:
                    break
            assert time.monotonic() < deadline, "the freed place was never given back"
