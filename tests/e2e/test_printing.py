"""End to end: kitchen tickets on receipt printers, on a real server.

An ESC/POS printer stand-in (a TCP server in the test) records the bytes it
is sent; a CloudPRNT client in the test follows Star's poll protocol.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.consoles import ResumingConsole
from tests.support.polling import wait_until
from tests.support.printers import CUT, StandInPrinter
from tests.support.servers import Api, Server, free_port, new_shop, running_server

FAST = {
    "printer_retry_scale": "0.1",
    "printer_status_timeout_seconds": "0.3",
    "printer_check_seconds": "0",
    "webhook_poll_seconds": "0.1",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(Path(tmp_path_factory.mktemp("printing")), **FAST) as srv:
        yield srv


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server)
    yield client
    await client.aclose()


class Shop:
    """A fresh shop, its merchant's token, and a customer."""

    def __init__(self, api: Api, merchant: str, customer: str, address: int, dishes: list[int]):
        self.api, self.merchant, self.customer = api, merchant, customer
        self.address, self.dishes = address, dishes

    async def admin(self, method: str, path: str, **kw: Any) -> Any:
        return await self.api.ok(method, path, token=self.merchant, header="token", **kw)

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        return await self.api.call(method, path, token=self.merchant, header="token", **kw)

    async def paid_order(self, remark: str = "") -> dict[str, Any]:
        placed = await self.api.place_order(self.customer, self.address, self.dishes, remark)
        placed["payment"] = await self.api.pay(self.customer, placed["orderNumber"])
        return placed

    async def accepted_order(self, remark: str = "") -> dict[str, Any]:
        placed = await self.paid_order(remark)
        await self.admin("PUT", "/admin/order/confirm", json={"id": placed["id"]})
        return placed

    async def jobs(self, order_id: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self.admin(
            "GET", "/admin/printers/jobs", params={"orderId": order_id}
        )
        return found


async def shop_of(api: Api, server: Server, name: str = "川味小馆") -> Shop:
    kit = await new_shop(server.database_url, name)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    return Shop(api, merchant, customer, address, kit.dish_ids)


async def test_an_accepted_order_prints_once_in_gb18030_with_a_cut(
    server: Server, api: Api
) -> None:
    printer = await StandInPrinter().start()
    try:
        shop = await shop_of(api, server)
        added = await shop.admin(
            "POST",
            "/admin/printers",
            json={"kind": "escpos-tcp", "address": printer.address, "width": 80, "name": "后厨"},
        )
        assert added["kind"] == "escpos-tcp" and "secret" not in added
        placed = await shop.accepted_order(remark="少辣多葱")
        await wait_until(lambda: printer.tickets, what="a ticket printed")
        ticket = printer.tickets[0]
        assert placed["orderNumber"].encode() in ticket
        assert "少辣多葱".encode("gb18030") in ticket
        assert "川味小馆".encode("gb18030") in ticket
        assert ticket.endswith(CUT)
        jobs = await wait_until(lambda: _printed(shop, placed["id"]), what="the job marked printed")
        assert [j["messageId"] for j in jobs] == [f"order-{placed['id']}"]
        printers = await shop.admin("GET", "/admin/printers")
        assert printers[0]["online"] is True and printers[0]["status"] == "online"

        # By hand, again: a job of its own, printed once more.
        again = await shop.admin("POST", f"/admin/order/{placed['id']}/print")
        assert len(again) == 1 and again[0]["reprint"] is True
        await wait_until(lambda: len(printer.tickets) == 2, what="the reprint")
        assert placed["orderNumber"].encode() in printer.tickets[1]
        assert len(printer.tickets) == 2
    finally:
        await printer.stop()


async def _printed(shop: Shop, order_id: int) -> list[dict[str, Any]] | None:
    jobs = await shop.jobs(order_id)
    return jobs if jobs and all(j["state"] == "printed" for j in jobs) else None


async def test_a_printer_that_was_down_prints_each_job_once_in_order(
    server: Server, api: Api
) -> None:
    port = free_port()
    shop = await shop_of(api, server, "面馆")
    await shop.admin(
        "POST", "/admin/printers", json={"kind": "escpos-tcp", "address": f"127.0.0.1:{port}"}
    )
    first = await shop.accepted_order(remark="第一单")
    second = await shop.accepted_order(remark="第二单")

    async def failed_once() -> bool:
        jobs = await shop.jobs(first["id"])
        return bool(jobs) and jobs[0]["attempts"] >= 1 and jobs[0]["state"] == "queued"

    await wait_until(failed_once, what="a failed attempt on the printer that is down")
    devices = await shop.admin("GET", "/admin/shop/devices")
    printer_device = next(d for d in devices if d["kind"] == "printer")
    assert printer_device["online"] is False and printer_device["warning"]

    printer = await StandInPrinter(port=port).start()
    try:
        await wait_until(lambda: len(printer.tickets) >= 2, what="both tickets after the return")
        await wait_until(lambda: _printed(shop, second["id"]), what="the second job printed")
        assert len(printer.tickets) == 2
        assert first["orderNumber"].encode() in printer.tickets[0]
        assert second["orderNumber"].encode() in printer.tickets[1]
    finally:
        await printer.stop()


async def test_a_printer_out_of_paper_keeps_its_job_and_warns(server: Server, api: Api) -> None:
    printer = await StandInPrinter(paper=False).start()
    try:
        shop = await shop_of(api, server, "粥铺")
        await shop.admin(
            "POST", "/admin/printers", json={"kind": "escpos-tcp", "address": printer.address}
        )
        placed = await shop.accepted_order()

        async def paper_out() -> dict[str, Any] | None:
            devices = await shop.admin("GET", "/admin/shop/devices")
            found = [d for d in devices if d["kind"] == "printer"]
            return found[0] if found and found[0]["reportedStatus"] == "paper out" else None

        device = await wait_until(paper_out, what="the printer reported out of paper")
        assert device["warning"] and "paper out" in device["warning"]
        assert (await shop.jobs(placed["id"]))[0]["state"] == "queued"
        assert not any(placed["orderNumber"].encode() in t for t in printer.tickets)
        printer.paper = True
        await wait_until(lambda: _printed(shop, placed["id"]), what="printed once paper is back")
        assert sum(placed["orderNumber"].encode() in t for t in printer.tickets) == 1
    finally:
        await printer.stop()


def _basic(login: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_a_cloudprnt_printer_polls_fetches_once_and_confirms(
    server: Server, api: Api
) -> None:
    shop = await shop_of(api, server, "饺子馆")
    added = await shop.admin("POST", "/admin/printers", json={"kind": "cloudprnt", "width": 80})
    auth = _basic(added["login"], added["secret"])
    http = api.http
    mac = "00:11:62:1d:9a:b7"

    wrong = await http.post(
        "/cloudprnt", json={"statusCode": "200 OK"}, headers=_basic(added["login"], "nope")
    )
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Basic")
    assert (await http.post("/cloudprnt", json={})).status_code == 401

    idle = await http.post(
        "/cloudprnt", json={"statusCode": "200%20OK", "printerMAC": mac}, headers=auth
    )
    assert idle.status_code == 200 and idle.json()["jobReady"] is False

    placed = await shop.accepted_order(remark="多放醋")
    poll = (
        await http.post(
            "/cloudprnt", json={"statusCode": "200 OK", "printerMAC": mac}, headers=auth
        )
    ).json()
    assert poll["jobReady"] is True and "text/plain" in poll["mediaTypes"]
    token = poll["jobToken"]
    params = {"type": "text/plain", "mac": mac, "token": token}
    job = await http.get("/cloudprnt", params=params, headers=auth)
    assert job.status_code == 200 and job.headers["content-type"].startswith("text/plain")
    assert placed["orderNumber"] in job.text and "多放醋" in job.text
    # A repeated GET gets the same job; the job is being printed meanwhile.
    assert (await http.get("/cloudprnt", params=params, headers=auth)).text == job.text
    assert (await shop.jobs(placed["id"]))[0]["state"] == "sent"
    bad_type = await http.get("/cloudprnt", params={**params, "type": "image/png"}, headers=auth)
    assert bad_type.status_code == 415

    done = await http.delete(
        "/cloudprnt", params={"code": "200 OK", "mac": mac, "token": token}, headers=auth
    )
    assert done.status_code == 200 and done.json()["state"] == "printed"
    assert (await shop.jobs(placed["id"]))[0]["state"] == "printed"
    after = (await http.post("/cloudprnt", json={"statusCode": "200 OK"}, headers=auth)).json()
    assert after["jobReady"] is False
    again = await http.delete("/cloudprnt", params={"code": "200 OK", "token": token}, headers=auth)
    assert again.status_code == 404

    # Paper out while printing: the job goes back to the queue, and a warning shows.
    second = await shop.accepted_order()
    token2 = (await http.post("/cloudprnt", json={"statusCode": "200 OK"}, headers=auth)).json()[
        "jobToken"
    ]
    await http.get("/cloudprnt", params={"type": "text/plain", "token": token2}, headers=auth)
    out = await http.post("/cloudprnt", json={"statusCode": "410 Out of paper"}, headers=auth)
    assert out.json()["jobReady"] is True
    assert (await shop.jobs(second["id"]))[0]["state"] == "queued"
    devices = await shop.admin("GET", "/admin/shop/devices")
    printer = next(d for d in devices if d["kind"] == "printer")
    assert printer["status"] == "paper out" and printer["warning"] and printer["mac"] == mac
    other = await shop_of(api, server)
    missing = await other.call("DELETE", f"/admin/printers/{added['id']}")
    assert missing.status_code == 404
    removed = await shop.admin("DELETE", f"/admin/printers/{added['id']}")
    assert removed["givenUp"] == 1
    assert (await http.post("/cloudprnt", json={}, headers=auth)).status_code == 401


async def test_auto_accept_accepts_prints_and_rings_once(server: Server, api: Api) -> None:
    printer = await StandInPrinter().start()
    console: ResumingConsole | None = None
    try:
        shop = await shop_of(api, server, "快餐店")
        assert await shop.admin("GET", "/admin/shop/auto-accept") == {"enabled": False}
        for bad in ({"enabled": "yes"}, {"enabled": 1}, {}):
            refused = await shop.call("PUT", "/admin/shop/auto-accept", json=bad)
            assert refused.status_code == 422 and refused.json()["code"] == 0, bad
        await shop.admin(
            "POST", "/admin/printers", json={"kind": "escpos-tcp", "address": printer.address}
        )
        on = await shop.admin("PUT", "/admin/shop/auto-accept", json={"enabled": True})
        assert on == {"enabled": True}
        assert await shop.admin("GET", "/admin/shop/auto-accept") == {"enabled": True}

        console = ResumingConsole(server, shop.merchant).start()
        await wait_until(lambda: console.hellos, what="console connected")
        placed = await shop.paid_order(remark="自动接单")
        assert placed["payment"]["status"] == 3
        await wait_until(lambda: printer.tickets, what="the ticket printed at payment")
        assert "自动接单".encode("gb18030") in printer.tickets[0]

        def handled() -> list[dict[str, Any]]:
            return [c for c in console.controls if c.get("type") == "handled"]

        await wait_until(handled, what="the alert handled at once")
        assert len(console.wire) == 1 and console.wire[0]["orderId"] == placed["id"]
        assert handled()[0]["action"] == "auto_accept"
        details = await shop.admin("GET", f"/admin/order/details/{placed['id']}")
        assert details["status"] == 3
        mine = await api.ok("GET", f"/user/order/orderDetail/{placed['id']}", token=shop.customer)
        assert mine["status"] == 3

        await shop.admin("PUT", "/admin/shop/auto-accept", json={"enabled": False})
        later = await shop.paid_order()
        assert later["payment"]["status"] == 2
    finally:
        if console is not None:
            await console.stop()
        await printer.stop()


async def test_bad_printer_input_is_refused_without_a_write(server: Server, api: Api) -> None:
    shop = await shop_of(api, server, "空店")
    cases = [
        ({"kind": "laser", "address": "10.0.0.5:9100"}, 422),
        ({"kind": "escpos-tcp"}, 400),
        ({"kind": "escpos-tcp", "address": "10.0.0.5"}, 400),
        ({"kind": "escpos-tcp", "address": "10.0.0.5:99999"}, 400),
        ({"kind": "escpos-tcp", "address": "a b:9100"}, 400),
        ({"kind": "escpos-tcp", "address": "10.0.0.5:9100", "width": 76}, 422),
        ({"kind": "cloudprnt", "address": "10.0.0.5:9100"}, 400),
        ({"kind": "escpos-tcp", "address": "10.0.0.5:9100", "name": "x" * 65}, 422),
    ]
    for body, status in cases:
        response = await shop.call("POST", "/admin/printers", json=body)
        assert response.status_code == status and response.json()["code"] == 0, (
            body,
            response.text,
        )
    assert await shop.admin("GET", "/admin/printers") == []
    placed = await shop.paid_order()
    no_printer = await shop.call("POST", f"/admin/order/{placed['id']}/print")
    assert no_printer.status_code == 400 and "preview" in no_printer.json()["msg"]
    assert (await shop.call("POST", "/admin/order/999999/print")).status_code == 404
    assert (await shop.call("DELETE", "/admin/printers/999999")).status_code == 404
    unpaid = await api.place_order(shop.customer, shop.address, shop.dishes)
    await shop.admin(
        "POST", "/admin/printers", json={"kind": "escpos-tcp", "address": "10.0.0.5:9100"}
    )
    refused = await shop.call("POST", f"/admin/order/{unpaid['id']}/print")
    assert refused.status_code == 400 and "not paid" in refused.json()["msg"]
