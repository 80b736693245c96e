"""End to end: an open shop that nobody listens to is paused, and takes orders again
within seconds of a console coming back; a shop closed by hand stays closed."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from pathlib import Path

import websockets

from orderbell.domain.shop_status import NO_CONSOLE_ONLINE, PAUSED_MESSAGE
from tests.support.polling import wait_until
from tests.support.servers import Api, new_shop, running_server

# The pause after 2 s without a device, looked for every 0.5 s; nothing is
# paused in the first 2 x 1 s (heartbeat timeouts) + 2 s after the start.
SHORT = {
    "unattended_pause_seconds": "2",
    "unattended_check_seconds": "0.5",
    "heartbeat_seconds": "1",
    "heartbeat_timeout_seconds": "1",
}


async def test_a_shop_nobody_listens_to_is_paused_and_a_console_opens_it_again(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, **SHORT) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            customer, address = await api.new_customer()
            await api.ok(
                "POST", "/user/shoppingCart/add", token=customer, json={"dishId": kit.dish_ids[0]}
            )
            status = f"/user/shop/status?shopId={kit.shop_id}"

            async def paused() -> bool:
                return await api.ok("GET", status) == 0

            await wait_until(paused, 30, interval=0.2, what="the unattended shop to be paused")
            detail = await api.ok(
                "GET", "/admin/shop/status/detail", token=merchant, header="token"
            )
            assert (detail["status"], detail["reason"]) == ("paused", NO_CONSOLE_ONLINE)
            refused = await api.call(
                "POST", "/user/order/submit", token=customer, json={"addressBookId": address}
            )
            assert (refused.status_code, refused.json()["msg"]) == (400, PAUSED_MESSAGE)

            async with websockets.connect(
                server.ws_url(merchant, sid="kitchen-tablet", protocol="2")
            ) as ws:
                await ws.recv()  # the console is registered once it has a frame
                back = time.monotonic()

                async def open_again() -> bool:
                    return await api.ok("GET", status) == 1

                await wait_until(open_again, 30, interval=0.2, what="the shop to take orders")
                assert time.monotonic() - back < 10, "resumed within 10 s of a console"
                order = await api.ok(
                    "POST", "/user/order/submit", token=customer, json={"addressBookId": address}
                )
                assert order["orderNumber"]

            history = await api.ok(
                "GET", "/admin/shop/status/history", token=merchant, header="token"
            )
            moves = [(h["from"], h["to"], h["reason"]) for h in reversed(history)]
            assert moves[:2] == [
                ("open", "paused", NO_CONSOLE_ONLINE),
                ("paused", "open", "console_online"),
            ], history
        finally:
            await api.aclose()


async def test_a_shop_closed_by_hand_is_not_opened_by_a_console(tmp_path: Path) -> None:
    with running_server(tmp_path, **SHORT) as server:
        api = Api(server)
        try:
            closed = await new_shop(server.database_url, "Closed Kitchen")
            unheard = await new_shop(server.database_url, "Unheard Kitchen")
            closing = await api.merchant_token(closed.username)
            other = await api.merchant_token(unheard.username)
            await api.ok("PUT", "/admin/shop/0", token=closing, header="token")

            async def status(shop_id: int) -> int:
                code: int = await api.ok("GET", f"/user/shop/status?shopId={shop_id}")
                return code

            # Once the open shop is paused, sweeps have looked past the grace
            # and the pause; the shop closed by hand was not paused meanwhile.
            await wait_until(
                lambda: _is(status(unheard.shop_id), 0), 30, interval=0.2, what="a pause"
            )
            async with (
                websockets.connect(server.ws_url(closing, protocol="2")) as a,
                websockets.connect(server.ws_url(other, protocol="2")) as b,
            ):
                await a.recv()
                await b.recv()
                # A sweep that saw both consoles online has resumed the paused shop...
                await wait_until(
                    lambda: _is(status(unheard.shop_id), 1), 30, interval=0.2, what="a resume"
                )
                # ...and left the one closed by hand closed.
                detail = await api.ok(
                    "GET", "/admin/shop/status/detail", token=closing, header="token"
                )
                assert detail["status"] == "closed", detail
        finally:
            await api.aclose()


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
