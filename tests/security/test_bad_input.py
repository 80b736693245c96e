"""Bad input: malformed JSON, wrong types, ids out of range, huge numbers, NUL
bytes, lone surrogates, overlong text, impossible times, flags and fractions
and text where an integer belongs. Each gets the envelope with a status that
fits and a message naming what is wrong; none gets a 500, and none leaves
anything half-written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from orderbell.services.publishing import create_api_key
from orderbell.storage.database import Database
from tests.e2e.server import Api, Server, new_shop
from tests.security.attack import broken_invariants, database, refused, rows, serve

JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Kit:
    customer: str
    address: int
    merchant: str
    shop: int
    dishes: list[int]
    order: int
    key: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # No background sweeps (the escalation ladder moves a paid order's next
    # look, then warns after a minute): "nothing was written" compares dumps.
    with serve(Path(tmp_path_factory.mktemp("input")), scheduled_tasks="false") as srv:
        yield srv


@pytest.fixture(scope="module")
def kit(server: Server) -> Kit:
    async def build() -> Kit:
        api = Api(server)
        try:
            shop = await new_shop(server.database_url)
            merchant = await api.merchant_token(shop.username)
            customer, address = await api.new_customer()
            order = await api.place_order(customer, address, [shop.dish_ids[0]])
            await api.pay(customer, str(order["orderNumber"]))
            db = Database(server.database_url)
            try:
                key = (await create_api_key(db, shop.shop_id, "input")).key
            finally:
                await db.dispose()
            return Kit(
                customer, address, merchant, shop.shop_id, shop.dish_ids, int(order["id"]), key
            )
        finally:
            await api.aclose()

    return asyncio.run(build())


def _who(kit: Kit, path: str) -> dict[str, str]:
    if path.startswith("/admin/"):
        return {"token": kit.merchant}
    return {"authentication": kit.customer}


# (path, raw body) sent as JSON by a customer: every one is malformed.
MALFORMED_BODIES = [
    (b'{"dishId":', "not valid JSON"),
    (b'{"dishId": 1} and more', "not valid JSON"),
    (b"{'dishId': 1}", "not valid JSON"),
    (b"[]", "dictionary"),
    (b'"dishId"', "dictionary"),
    (b"null", "dictionary"),
    (b"42", "dictionary"),
    (b"\xff\xfe\x00{", "not valid JSON"),
    (b'{"dishId": 1e400}', "dishId"),
    (b'{"dishId": NaN}', "dishId"),
    (b'{"dishId": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b"[" * 20_000 + b"]" * 20_000, "not valid JSON"),
    (b'{"dishId": {"$gt": 0}}', "dishId"),
]


@pytest.mark.parametrize(("raw", "words"), MALFORMED_BODIES, ids=lambda v: repr(v)[:30])
async def test_malformed_json_is_refused_in_the_envelope(
    server: Server, kit: Kit, raw: bytes, words: str
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(
            "/user/shoppingCart/add", content=raw, headers={**JSON, **_who(kit, "/user")}
        )
    refused(response, 422, words)


async def test_bodies_that_are_not_json_or_too_large_are_refused(server: Server, kit: Kit) -> None:
    auth = _who(kit, "/user")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        as_text = await http.post(
            "/user/shoppingCart/add",
            content=b'{"dishId": 1}',
            headers={**auth, "content-type": "text/plain"},
        )
        refused(as_text, 422)
        # Not even read: a body over the limit is refused before any route sees it.
        huge = await http.post(
            "/user/shoppingCart/add",
            content=b'{"dishId": 1, "pad": "' + b"x" * 200_000 + b'"}',
            headers={**auth, **JSON},
        )
        refused(huge, 413, "too large")

        async def chunks() -> Any:
            for _ in range(100):
                yield b"x" * 1000

        streamed = await http.post(
            "/user/shoppingCart/add", content=chunks(), headers={**auth, **JSON}
        )
        refused(streamed, 413, "too large")


NUL = "a\x00b"
SURROGATE = "a\ud800b"

# (method, path, body, status, words the message must hold).
CASES: list[tuple[str, str, Any, int, str]] = [
    # Ids: types, ranges, beyond 32 and 64 bits.
    *[
        ("POST", "/user/shoppingCart/add", {"dishId": v}, 422, "dishId")
        for v in (0, -1, 2**31, 2**63, 10**30, 1.5, "abc", None, [], {}, "")
    ],
    ("POST", "/user/shoppingCart/add", {"dishId": 2**31 - 1}, 404, "not found"),
    # An integer is a JSON integer: not a flag, a fraction or text holding digits.
    *[
        ("PUT", "/admin/order/confirm", {"id": v}, 422, "id")
        for v in (True, False, 1.0, "1", 1e0, "0x1")
    ],
    *[
        ("POST", "/user/order/submit", {"addressBookId": 1, field: v}, 422, field)
        for field in ("payMethod", "deliveryStatus", "tablewareNumber", "tablewareStatus")
        for v in (True, 1.0, "1")
    ],
    *[("PUT", "/admin/alert/dismiss", {"seq": v}, 422, "seq") for v in (True, 1.0, "1")],
    *[
        ("PUT", "/admin/alert/reply", {"orderId": v, "reply": "cooking"}, 422, "orderId")
        for v in (True, 1.0, "1")
    ],
    ("POST", "/user/shoppingCart/add", {}, 422, "dishId"),
    *[
        ("GET", f"/user/order/orderDetail/{v}", None, 422, "id")
        for v in ("0", "-1", "2147483648", "99999999999999999999999999", "abc", "1.5", "%00")
    ],
    ("GET", "/user/order/orderDetail/2147483647", None, 404, "not found"),
    *[
        ("GET", f"/user/order/orderDetail/{v}", None, 422, "id")
        for v in ("true", "1.0", "1e0", "1_0", "0x1", "%EF%BC%91", "%D9%A1")
    ],
    ("GET", "/user/order/reminder/2147483648", None, 422, "id"),
    ("PUT", "/admin/order/delivery/-5", None, 422, "id"),
    ("PUT", "/admin/order/confirm", {"id": 2**40}, 422, "id"),
    ("PUT", "/admin/order/confirm", {"id": 2**31 - 1}, 404, "not found"),
    # Query parameters.
    *[
        ("GET", f"/user/order/historyOrders?{q}", None, 422, field)
        for q, field in (
            ("page=0", "page"),
            ("page=1000000000000000000000000000000", "page"),
            ("pageSize=0", "pageSize"),
            ("pageSize=101", "pageSize"),
            ("status=7", "status"),
            ("status=abc", "status"),
            ("status=true", "status"),
            ("page=1.0", "page"),
            ("pageSize=1e1", "pageSize"),
            ("page=1_0", "page"),
        )
    ],
    *[
        ("GET", f"/admin/order/conditionSearch?{q}", None, 422, field)
        for q, field in (
            ("number=1%002", "number"),
            ("phone=138%0a", "phone"),
            ("phone=123456789012", "phone"),
            ("beginTime=0001-01-01%2000:00:00", "beginTime"),
            ("endTime=9999-12-31T23:59:59-14:00", "endTime"),
            ("beginTime=yesterday", "beginTime"),
            ("beginTime=2026-13-45%2000:00:00", "beginTime"),
        )
    ],
    ("GET", "/user/dish/list?shopId=0", None, 422, "shopId"),
    ("GET", "/user/dish/list?shopId=2147483648", None, 422, "shopId"),
    ("GET", "/user/dish/list", None, 422, "shopId"),
    # Sign-up: phone format, names, passwords.
    *[
        (
            "POST",
            "/user/user/register",
            {"phone": p, "password": "secret123", "name": "x"},
            422,
            "phone",
        )
        for p in (
            "1380000000",
            "138000000012",
            "23800000000",
            "1380000000a",
            "1٣٨٠٠٠٠٠٠٠٠",
            "13800000001\n",
            "+8613800000001",
            13800000001,
        )
    ],
    *[
        (
            "POST",
            "/user/user/register",
            {"phone": "13711112222", "password": "secret123", "name": n},
            422,
            "name",
        )
        for n in ("", "   ", "x" * 33, NUL, "bell\x07", "two\nlines", SURROGATE)
    ],
    *[
        (
            "POST",
            "/user/user/register",
            {"phone": "13711112222", "password": pw, "name": "x"},
            422,
            "password",
        )
        for pw in ("12345", "p" * 65, "pass\x00word", "pass" + SURROGATE)
    ],
    # Logins: no NUL or surrogate reaches the database or the password hasher.
    ("POST", "/user/user/login", {"phone": "138" + NUL, "password": "x"}, 422, "phone"),
    ("POST", "/user/user/login", {"phone": "13800000001", "password": SURROGATE}, 422, "password"),
    ("POST", "/user/user/login", {"phone": "13800000001"}, 422, "password"),
    ("POST", "/admin/employee/login", {"username": NUL, "password": "x"}, 422, "username"),
    ("POST", "/admin/employee/login", {"username": "u" * 33, "password": "x"}, 422, "username"),
    # Addresses.
    *[
        (
            "POST",
            "/user/addressBook",
            {"consignee": "李四", "phone": "13800000001", "detail": "路 1 号", **extra},
            422,
            field,
        )
        for extra, field in (
            ({"detail": "d" * 201}, "detail"),
            ({"detail": ""}, "detail"),
            ({"provinceName": "p" * 33}, "provinceName"),
            ({"sex": "2"}, "sex"),
            ({"consignee": NUL}, "consignee"),
            ({"label": "home\r\nSet-Cookie: x"}, "label"),
            ({"phone": "12"}, "phone"),
            ({"isDefault": "perhaps"}, "isDefault"),
            ({"isDefault": 1}, "isDefault"),
            ({"isDefault": 0}, "isDefault"),
            ({"isDefault": "true"}, "isDefault"),
            (
                {"provinceName": "p" * 32, "cityName": "c" * 32, "detail": "d" * 200},
                "too long",
            ),
        )
    ],
    # Orders.
    *[
        ("POST", "/user/order/submit", {"addressBookId": 1, **extra}, 422, field)
        for extra, field in (
            ({"remark": "r" * 101}, "remark"),
            ({"remark": NUL}, "remark"),
            ({"remark": SURROGATE}, "remark"),
            ({"tablewareNumber": 100}, "tablewareNumber"),
            ({"tablewareNumber": -1}, "tablewareNumber"),
            ({"payMethod": 3}, "payMethod"),
            ({"deliveryStatus": 2}, "deliveryStatus"),
            ({"estimatedDeliveryTime": "0001-01-01 00:00:00"}, "estimatedDeliveryTime"),
            ({"estimatedDeliveryTime": "9999-12-31 23:59:59"}, "estimatedDeliveryTime"),
            ({"estimatedDeliveryTime": "2026-02-30 12:00:00"}, "estimatedDeliveryTime"),
            ({"estimatedDeliveryTime": 1e20}, "estimatedDeliveryTime"),
            ({"addressBookId": 0}, "addressBookId"),
        )
    ],
    ("PUT", "/user/order/payment", {"orderNumber": ""}, 422, "orderNumber"),
    ("PUT", "/user/order/payment", {"orderNumber": "9" * 51}, 422, "orderNumber"),
    ("PUT", "/user/order/payment", {"orderNumber": NUL}, 422, "orderNumber"),
    ("PUT", "/user/order/payment", {"orderNumber": "19990101000000000"}, 404, "not found"),
    # The shop's moves.
    *[
        ("PUT", "/admin/order/rejection", {"id": 1, "rejectionReason": r}, 422, "rejectionReason")
        for r in ("", "   ", "r" * 256, NUL, SURROGATE)
    ],
    ("PUT", "/admin/order/cancel", {"id": 1}, 422, "cancelReason"),
    ("PUT", "/admin/alert/reply", {"orderId": 1, "reply": "whatever"}, 422, "reply"),
    ("PUT", "/admin/alert/reply", {"orderId": 1, "reply": "custom", "text": "t" * 31}, 422, "text"),
    ("PUT", "/admin/alert/reply", {"orderId": 1, "reply": "custom", "text": NUL}, 422, "text"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), CASES, ids=repr)
async def test_bad_input_gets_a_fitting_status_and_a_message(
    server: Server, kit: Kit, method: str, path: str, body: Any, status: int, words: str
) -> None:
    # Encoded here, with ASCII escapes: "\ud800" must reach the server as the
    # six characters a client would send for half a surrogate pair.
    content = None if body is None else json.dumps(body).encode()
    headers = _who(kit, path) | (JSON if body is not None else {})
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.request(method, path, content=content, headers=headers)
    envelope = refused(response, status, words)
    if status == 422:
        assert envelope["data"]["errors"], envelope


async def test_strange_headers_are_refused_politely(server: Server, kit: Kit) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for value in (b"\xff\xfe\xfd", b"x" * 6000, b"Bearer", b"a.b.c"):
            response = await http.get(
                "/user/order/historyOrders", headers=[(b"authentication", value)]
            )
            refused(response, 401)
        refused(
            await http.get("/user/order/historyOrders", headers={"authorization": "Bearer"}), 401
        )


async def test_a_refused_submit_keeps_the_cart_and_makes_no_order(server: Server, kit: Kit) -> None:
    api = Api(server)
    try:
        customer, address = await api.new_customer()
        for dish in kit.dishes:
            await api.ok("POST", "/user/shoppingCart/add", token=customer, json={"dishId": dish})
        before = await api.ok("GET", "/user/shoppingCart/list", token=customer)
        assert len(before) == 2
        for body, status in (
            ({"addressBookId": address, "remark": NUL}, 422),
            ({"addressBookId": address, "remark": SURROGATE}, 422),
            ({"addressBookId": address, "estimatedDeliveryTime": "0001-01-01 00:00:00"}, 422),
            ({"addressBookId": 2**31 - 1}, 404),
            ({"addressBookId": address, "remark": "r" * 101}, 422),
        ):
            response = await api.http.post(
                "/user/order/submit",
                content=json.dumps(body).encode(),
                headers={**JSON, "authentication": customer},
            )
            refused(response, status)
            assert await api.ok("GET", "/user/shoppingCart/list", token=customer) == before
        assert (await api.ok("GET", "/user/order/historyOrders", token=customer))["total"] == 0
        # And the same cart with good input becomes one whole order.
        data = await api.ok(
            "POST",
            "/user/order/submit",
            token=customer,
            json={"addressBookId": address, "remark": "🔥" * 100},
        )
        assert await api.ok("GET", "/user/shoppingCart/list", token=customer) == []
        detail = await api.ok("GET", f"/user/order/orderDetail/{data['id']}", token=customer)
        assert len(detail["orderDetailList"]) == 2 and detail["remark"] == "🔥" * 100
    finally:
        await api.aclose()


async def test_a_refused_sign_up_stores_nobody(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for name in (NUL, "x" * 33):
            response = await http.post(
                "/user/user/register",
                json={"phone": "13622223333", "password": "secret123", "name": name},
            )
            refused(response, 422, "name")
    assert rows(server, "SELECT COUNT(*) FROM customer WHERE phone = '13622223333'") == [(0,)]


def _dump(server: Server) -> list[str]:
    """Every row of every table, as SQL: equal dumps mean nothing was written."""
    with closing(database(server)) as conn:
        return list(conn.iterdump())


async def test_a_flag_or_a_fraction_never_stands_for_an_order_id(server: Server, kit: Kit) -> None:
    # The shop's first order is order 1, paid and waiting for the shop.
    assert kit.order == 1
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for value in (True, 1.0, "1"):
            response = await http.put(
                "/admin/order/confirm", json={"id": value}, headers={"token": kit.merchant}
            )
            refused(response, 422, "id", "integer")
    assert rows(server, "SELECT status FROM orders WHERE id = 1") == [(2,)]
    assert rows(server, "SELECT COUNT(*) FROM alert WHERE handled_at IS NOT NULL") == [(0,)]


async def test_the_publish_api_takes_no_flag_for_a_type(server: Server, kit: Kit) -> None:
    before = rows(server, "SELECT COUNT(*) FROM alert")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        url = f"/api/v1/shops/{kit.shop}/alerts"
        for body in (
            {"type": True, "orderNumber": "EXT-1"},
            {"type": 1.0, "orderNumber": "EXT-1"},
            {"type": "1", "orderNumber": "EXT-1"},
            {"type": 1, "orderNumber": "EXT-1", "orderId": True},
            {"type": 1, "orderNumber": "EXT-1", "orderId": 7.0},
        ):
            response = await http.post(url, json=body, headers={"x-api-key": kit.key})
            refused(response, 422)
        for shop in ("true", "1.0", f"{kit.shop}.0"):
            response = await http.post(
                f"/api/v1/shops/{shop}/alerts",
                json={"type": 1, "orderNumber": "EXT-1"},
                headers={"x-api-key": kit.key},
            )
            refused(response, 422, "shop_id")
    assert rows(server, "SELECT COUNT(*) FROM alert") == before


# A valid body of each operation that takes one, spoiled below one field at a time.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "POST /user/user/register": {"phone": "13655556666", "password": "secret123", "name": "x"},
    "POST /user/user/login": {"phone": "13800000001", "password": "secret123"},
    "POST /admin/employee/login": {"username": "nobody", "password": "secret123"},
    "POST /user/addressBook": {"consignee": "李四", "phone": "13800000001", "detail": "路 1 号"},
    "POST /user/shoppingCart/add": {"dishId": 1},
    "POST /user/order/submit": {"addressBookId": 1},
    "PUT /user/order/payment": {"orderNumber": "19990101000000000"},
    "PUT /admin/order/confirm": {"id": 1},
    "PUT /admin/order/rejection": {"id": 1, "rejectionReason": "售罄"},
    "PUT /admin/order/cancel": {"id": 1, "cancelReason": "打烊"},
    "PUT /admin/alert/reply": {"orderId": 1, "reply": "cooking"},
    "PUT /admin/alert/dismiss": {"seq": 1},
    "PUT /admin/shop/escalation": {"warnSeconds": 60},
    "POST /admin/push/subscriptions": {
        "endpoint": "https://push.example.com/send/abc",
        "keys": {
            "p256dh": "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0A",
            "auth": "AAECAwQFBgcICQoLDA0ODw",
        },
        "deviceId": "tablet",
    },
    "POST /api/v1/shops/{shop_id}/alerts": {"type": 1, "orderNumber": "EXT-1"},
    "POST /admin/webhooks": {"url": "https://example.com/hook", "events": ["order.paid"]},
    "POST /admin/printers": {"kind": "escpos-tcp", "address": "127.0.0.1:9", "width": 80},
    "PUT /admin/shop/auto-accept": {"enabled": False},
    "PUT /admin/shop/profile/prepMinutes": {"prepMinutes": 15},
}

#: What stands in for a number or a flag and must not pass for one.
NOT_AN_INTEGER: list[Any] = [True, False, 1.0, "1"]
NOT_A_FLAG: list[Any] = [1, 0, "true"]
NOT_INTEGER_TEXT = ["true", "1.0", "1e0", "1_0"]


def _kind(schema: dict[str, Any], components: dict[str, Any]) -> str | None:
    """``integer`` or ``boolean`` when the schema (or a branch of it) is one."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    for branch in (schema, *schema.get("anyOf", ())):
        if branch.get("type") in ("integer", "boolean"):
            return str(branch["type"])
    return None


def _spoiled_requests(
    document: dict[str, Any], kit: Kit
) -> Iterator[tuple[str, str, str, dict[str, Any] | None, str, Any]]:
    """(label, method, url, body, field, value): each request of the API with one
    integer or flag, in its body, path or query, replaced by something else."""
    components = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            body_schema = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            body = None
            if body_schema is not None:
                assert label in VALID_BODIES, f"{label}: add a valid body to VALID_BODIES"
                body = VALID_BODIES[label]
            parameters = [
                p for p in operation.get("parameters", []) if p["in"] in ("path", "query")
            ]
            valid_path = path.replace("{shop_id}", str(kit.shop)).replace("{id}", str(kit.order))
            for parameter in parameters:
                if _kind(parameter["schema"], components) != "integer":
                    continue
                for text in NOT_INTEGER_TEXT:
                    if parameter["in"] == "path":
                        url = path.replace("{" + parameter["name"] + "}", text)
                        url = url.replace("{shop_id}", str(kit.shop)).replace("{id}", "1")
                    else:
                        url = f"{valid_path}?{parameter['name']}={text}"
                    yield label, method, url, body, parameter["name"], text
            if body_schema is None:
                continue
            schema = components[body_schema["$ref"].rsplit("/", 1)[1]]
            assert set(schema.get("required", ())) <= set(body or ()), label
            for name, field_schema in schema["properties"].items():
                kind = _kind(field_schema, components)
                if kind is None:
                    continue
                for value in NOT_AN_INTEGER if kind == "integer" else NOT_A_FLAG:
                    yield label, method, valid_path, {**(body or {}), name: value}, name, value


async def test_no_operation_takes_a_flag_a_fraction_or_text_for_a_number(
    server: Server, kit: Kit
) -> None:
    """Walks the served OpenAPI document: every integer and every flag of every
    operation, in a body, a path or a query string, is tried with what only
    looks like one. Each answers 422 naming that field alone, and nothing is written."""
    headers = {"authentication": kit.customer, "token": kit.merchant, "x-api-key": kit.key}
    before = _dump(server)
    tried: set[str] = set()
    fields: set[str] = set()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        document = (await http.get("/openapi.json")).json()
        for label, method, url, body, field, value in _spoiled_requests(document, kit):
            response = await http.request(method, url, json=body, headers=headers)
            where = f"{label} {field}={value!r}"
            assert response.status_code == 422, (where, response.status_code, response.text)
            envelope = refused(response, 422, field)
            assert [e["field"] for e in envelope["data"]["errors"]] == [field], (where, envelope)
            tried.add(label)
            fields.add(field)
    # The walk met every kind of place a number or a flag hides in.
    assert {"id", "dishId", "payMethod", "seq", "type", "orderId", "isDefault"} <= fields
    assert {"page", "pageSize", "status", "shopId", "shop_id"} <= fields
    assert len(tried) >= 18, tried
    assert _dump(server) == before
    # A plain decimal number in a query string or a path still counts, as it always did.
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for query in ("page=01", "page=%2B1", "page=%201", "status=2", "pageSize=010"):
            response = await http.get(
                f"/admin/order/conditionSearch?{query}", headers={"token": kit.merchant}
            )
            assert response.status_code == 200 and response.json()["code"] == 1, response.text
        detail = await http.get(
            f"/admin/order/details/0{kit.order}", headers={"token": kit.merchant}
        )
        assert detail.status_code == 200 and detail.json()["data"]["id"] == kit.order


async def test_a_console_resumes_only_after_ascii_digits(server: Server, kit: Kit) -> None:
    # Arabic-Indic and full-width digits, a superscript: digits to str.isdigit(), not here.
    for since in ("%D9%A1%D9%A2", "%EF%BC%91", "%C2%B2", "1.0", "true"):
        url = server.ws_url(kit.merchant, since=since, protocol="2")
        async with websockets.connect(url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, since


def test_nothing_is_half_written_after_all_of_it(server: Server, kit: Kit) -> None:
    # Runs last: every bad request above has been made.
    assert broken_invariants(server) == {}
    assert rows(server, "SELECT status, pay_status FROM orders WHERE id = ?", kit.order) == [(2, 1)]
    log = (server.log_path).read_text(errors="replace")
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
