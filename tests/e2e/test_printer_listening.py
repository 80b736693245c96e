"""End to end: with auto-accept on, a printer online counts as listening, so the
shop is not paused for want of a console; without auto-accept it does not count,
and once the printer is gone the shop is paused like any other."""

from __future__ import annotations

from pathlib import Path

from tests.support.polling import wait_until
from tests.support.printers import StandInPrinter
from tests.support.servers import Api, new_shop, running_server

SHORT = {
    "unattended_pause_seconds": "2",
    "unattended_check_seconds": "0.5",
    "heartbeat_seconds": "1",
    "heartbeat_timeout_seconds": "1",
    "printer_check_seconds": "0.5",
    "printer_offline_after_seconds": "2",
    "printer_status_timeout_seconds": "0.3",
}


async def test_a_printer_online_keeps_an_auto_accept_shop_open(tmp_path: Path) -> None:
    printers = [await StandInPrinter().start(), await StandInPrinter().start()]
    with running_server(tmp_path, **SHORT) as server:
        api = Api(server)
        try:
            shops = []
            for name, printer, auto in (("自动", printers[0], True), ("手动", printers[1], False)):
                kit = await new_shop(server.database_url, name)
                token = await api.merchant_token(kit.username)
                await api.ok(
                    "POST",
                    "/admin/printers",
                    token=token,
                    header="token",
                    json={"kind": "escpos-tcp", "address": printer.address},
                )
                await api.ok(
                    "PUT",
                    "/admin/shop/auto-accept",
                    token=token,
                    header="token",
                    json={"enabled": auto},
                )
                shops.append(kit.shop_id)

            async def open_(shop_id: int) -> bool:
                return await api.ok("GET", f"/user/shop/status?shopId={shop_id}") == 1

            async def paused(shop_id: int) -> bool:
                return not await open_(shop_id)

            await wait_until(lambda: paused(shops[1]), what="the shop without auto-accept paused")
            assert await open_(shops[0]), "a printer online hears an auto-accept shop"
            assert printers[0].connections >= 1, "the idle printer was asked how it is"

            await printers[0].stop()
            await wait_until(lambda: paused(shops[0]), what="paused once its printer is gone")
        finally:
            await api.aclose()
            for printer in printers:
                await printer.stop()
