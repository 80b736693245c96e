"""The same attacks on PostgreSQL, where a NUL byte in text is an error of the
database itself and where the limits must hold with real row locks and
concurrent transactions in two server processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import require_service
from tests.integration.services import POSTGRES_URLS, postgres_admin_url, postgres_database
from tests.security.attack import refused, serve
from tests.support.servers import PASSWORD, Api, Server, new_shop, second_process, start

NUL = "a\x00b"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of this module's own on the shared PostgreSQL server."""
    admin = postgres_admin_url()
    require_service("PostgreSQL", admin is not None, f"none of {POSTGRES_URLS} answers")
    assert admin is not None
    with postgres_database(admin) as url:
        yield url


@pytest.fixture(scope="module")
def pair(
    postgres: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """Two server processes on the PostgreSQL database."""
    tmp = Path(tmp_path_factory.mktemp("postgres"))
    with serve(
        tmp,
        database_url=postgres,
        login_max_failures_per_account="3",
        reminder_interval_seconds="0",
        reminder_max_per_order="3",
    ) as first:
        second = second_process(first, tmp)
        start(second)
        try:
            yield first, second
        finally:
            second.stop()


async def _count(url: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def test_nul_bytes_and_lone_surrogates_never_reach_postgresql(
    pair: tuple[Server, Server],
) -> None:
    server = pair[0]
    api = Api(server)
    try:
        kit = await new_shop(server.database_url)
        merchant = await api.merchant_token(kit.username)
        customer, address = await api.new_customer()
        await api.ok(
            "POST", "/user/shoppingCart/add", token=customer, json={"dishId": kit.dish_ids[0]}
        )
        attacks = [
            ("POST", "/user/user/login", None, {"phone": NUL, "password": PASSWORD}),
            ("POST", "/admin/employee/login", None, {"username": NUL, "password": PASSWORD}),
            ("POST", "/user/order/submit", customer, {"addressBookId": address, "remark": NUL}),
            (
                "POST",
                "/user/order/submit",
                customer,
                {"addressBookId": address, "remark": "\ud83d"},
            ),
            ("PUT", "/user/order/payment", customer, {"orderNumber": NUL}),
            (
                "POST",
                "/user/addressBook",
                customer,
                {"consignee": NUL, "phone": "13800000001", "detail": "x"},
            ),
        ]
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            for method, path, token, body in attacks:
                response = await http.request(
                    method,
                    path,
                    content=json.dumps(body).encode(),
                    headers={"content-type": "application/json"}
                    | ({"authentication": token} if token else {}),
                )
                refused(response, 422)
            search = await http.get(
                "/admin/order/conditionSearch", params={"number": NUL}, headers={"token": merchant}
            )
            refused(search, 422, "number")
        # The cart survived every refused submit, and good text goes through whole.
        remark = "Robert'); DROP TABLE orders;-- <b>辣</b> 👩‍🍳"
        order = await api.ok(
            "POST",
            "/user/order/submit",
            token=customer,
            json={"addressBookId": address, "remark": remark},
        )
        detail = await api.ok("GET", f"/user/order/orderDetail/{order['id']}", token=customer)
        assert detail["remark"] == remark and len(detail["orderDetailList"]) == 1
    finally:
        await api.aclose()
    assert "Traceback" not in server.log()


async def test_a_burst_of_guesses_in_two_processes_gets_the_limit(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    kit = await new_shop(first.database_url)
    async with (
        httpx.AsyncClient(base_url=first.base_url) as a,
        httpx.AsyncClient(base_url=second.base_url) as b,
    ):
        responses = await asyncio.gather(
            *(
                (a if i % 2 else b).post(
                    "/admin/employee/login",
                    json={"username": kit.username, "password": f"guess-{i}"},
                    headers={"x-forwarded-for": f"192.0.2.{i}"},
                )
                for i in range(24)
            )
        )
    assert sorted(r.status_code for r in responses) == [401] * 3 + [429] * 21


async def test_reminders_in_two_processes_keep_the_count(pair: tuple[Server, Server]) -> None:
    first, second = pair
    apis = [Api(first), Api(second)]
    try:
        kit = await new_shop(first.database_url)
        customer, address = await apis[0].new_customer()
        order = await apis[0].place_order(customer, address, [kit.dish_ids[0]])
        await apis[0].pay(customer, str(order["orderNumber"]))
        path = f"/user/order/reminder/{order['id']}"
        responses = await asyncio.gather(
            *(apis[i % 2].call("GET", path, token=customer) for i in range(30))
        )
    finally:
        for api in apis:
            await api.aclose()
    assert sorted(r.status_code for r in responses) == [200] * 3 + [429] * 27
    stored = await _count(
        first.database_url,
        "SELECT COUNT(*) FROM alert WHERE order_id = $1 AND type = 2",
        order["id"],
    )
    assert stored == 3
