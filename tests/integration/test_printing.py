"""Print jobs with two server processes on PostgreSQL + Redis: each accepted order
prints once on the shop's printer, in order, also after the printer was down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import cluster_env
from tests.support.polling import wait_until
from tests.support.printers import CUT, StandInPrinter
from tests.support.servers import Api, Server, free_port, new_shop, start

FAST = {
    "printer_retry_scale": "0.1",
    "printer_status_timeout_seconds": "0.3",
    "printer_check_seconds": "0",
    "webhook_poll_seconds": "0.1",
}


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str, redis_url: str, prefix: str) -> Iterator[list[Server]]:
    # One after the other: two interpreters starting at once on a busy machine
    # can each take longer than a start may.
    env = cluster_env(postgres_url, redis_url, prefix, **FAST)
    servers = [
        Server(free_port(), postgres_url, tmp_path / f"server{i}.log", env) for i in range(2)
    ]
    try:
        for server in servers:
            start(server)
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_two_processes_print_each_order_once_in_order(
    pair: list[Server], apis: list[Api]
) -> None:
    kit = await new_shop(pair[0].database_url, "双店")
    tokens = [await api.merchant_token(kit.username) for api in apis]
    customer, address = await apis[0].new_customer()
    port = free_port()
    await apis[0].ok(
        "POST",
        "/admin/printers",
        token=tokens[0],
        header="token",
        json={"kind": "escpos-tcp", "address": f"127.0.0.1:{port}"},
    )
    numbers = []
    for i in range(6):
        placed = await apis[0].place_order(customer, address, kit.dish_ids, remark=f"第{i}单")
        await apis[0].pay(customer, placed["orderNumber"])
        # Accepted on either process; while the printer is still down for the first three.
        which = i % 2
        await apis[which].ok(
            "PUT",
            "/admin/order/confirm",
            token=tokens[which],
            header="token",
            json={"id": placed["id"]},
        )
        numbers.append(placed["orderNumber"].encode())
        if i == 2:
            printer = await StandInPrinter(port=port).start()
    try:

        async def all_printed() -> bool:
            jobs = await apis[1].ok("GET", "/admin/printers/jobs", token=tokens[1], header="token")
            return len(jobs) == 6 and all(j["state"] == "printed" for j in jobs)

        await wait_until(all_printed, what="six jobs printed")
        tickets = printer.tickets
        assert len(tickets) == 6, [t[:40] for t in tickets]
        assert all(t.endswith(CUT) for t in tickets)
        printed = [next(n for n in numbers if n in t) for t in tickets]
        assert printed == numbers
    finally:
        await printer.stop()


async def test_auto_accept_on_postgresql_accepts_at_payment_and_prints_once(
    pair: list[Server], apis: list[Api]
) -> None:
    kit = await new_shop(pair[0].database_url, "自动店")
    token = await apis[1].merchant_token(kit.username)
    customer, address = await apis[0].new_customer()
    printer = await StandInPrinter().start()
    try:
        await apis[1].ok(
            "POST",
            "/admin/printers",
            token=token,
            header="token",
            json={"kind": "escpos-tcp", "address": printer.address},
        )
        await apis[1].ok(
            "PUT", "/admin/shop/auto-accept", token=token, header="token", json={"enabled": True}
        )
        placed = await apis[0].place_order(customer, address, kit.dish_ids)
        paid = await apis[0].pay(customer, placed["orderNumber"])
        assert paid["status"] == 3
        again = await apis[1].pay(customer, placed["orderNumber"])
        assert again["status"] == 3
        details = await apis[1].ok(
            "GET", f"/admin/order/details/{placed['id']}", token=token, header="token"
        )
        assert details["status"] == 3

        async def printed() -> bool:
            jobs = await apis[0].ok("GET", "/admin/printers/jobs", token=token, header="token")
            return len(jobs) == 1 and jobs[0]["state"] == "printed"

        await wait_until(printed, what="the ticket printed at payment")
        assert len(printer.tickets) == 1
        assert placed["orderNumber"].encode() in printer.tickets[0]
    finally:
        await printer.stop()
