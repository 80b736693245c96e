"""Who gets in: every endpoint and the console socket, attacked with no token,
bad tokens, tokens of the wrong kind, and another customer's or shop's ids.

Every refusal must carry the right status in the envelope and nothing of the
victim's; a refusal for someone else's id must read exactly like one for an
id that does not exist; and afterwards nothing the victim owns has changed.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.security.attack import (
    OTHER_SECRET,
    broken_invariants,
    headers_for,
    refused,
    rows,
    serve,
    token,
)
from tests.security.world import World, build_world
from tests.support.frames import collect, silence
from tests.support.servers import Server

NOWHERE = 2**31 - 1  # a valid id that no row has


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(Path(tmp_path_factory.mktemp("access"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: Server) -> World:
    return asyncio.run(build_world(server))


Request = tuple[str, dict[str, Any] | None]


@dataclass(frozen=True)
class Op:
    """An operation of the API: who may call it, and a call aimed at the victim.

    ``aim(world, id)`` builds the path and body; ``id`` is the victim's
    object, or NOWHERE for the same call at an id that does not exist.
    ``foreign`` is the status the attacker's own valid login must get for
    the victim's object (None: the operation names no object of anyone's).
    """

    method: str
    template: str
    audience: str
    aim: Callable[[World, int | None], Request]
    foreign: int | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _path(template: str, **ids: object) -> Callable[[World, int | None], Request]:
    return lambda w, target: (template.format(**ids, id=target), None)


def _order(template: str, key: str = "paid") -> Callable[[World, int | None], Request]:
    def aim(w: World, target: int | None) -> Request:
        order = getattr(w, key)
        return template.format(id=order["id"] if target is None else target), None

    return aim


def _body(path: str, make: Callable[[World, int | None], dict[str, Any]]) -> Callable[..., Request]:
    return lambda w, target: (path, make(w, target))


def _fixed(path: str, body: dict[str, Any] | None = None) -> Callable[..., Request]:
    return lambda w, target: (path, body)


def _victim_order(w: World, target: int | None, key: str = "paid") -> int:
    return int(getattr(w, key)["id"]) if target is None else target


# A browser's push subscription (PushSubscription.toJSON()) and its device.
PUSH_SUBSCRIPTION = {
    "endpoint": "https://push.example.com/send/abc",
    "keys": {
        "p256dh": "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0A",
        "auth": "AAECAwQFBgcICQoLDA0ODw",
    },
    "deviceId": "tablet",
}

OPERATIONS = [
    # Customers.
    Op(
        "POST",
        "/user/addressBook",
        "customer",
        _fixed("/user/addressBook", {"consignee": "王五", "phone": "13900000000", "detail": "x"}),
    ),
    Op("GET", "/user/addressBook/list", "customer", _fixed("/user/addressBook/list")),
    Op("GET", "/user/addressBook/default", "customer", _fixed("/user/addressBook/default")),
    Op(
        "POST",
        "/user/shoppingCart/add",
        "customer",
        _fixed("/user/shoppingCart/add", {"dishId": 1}),
    ),
    Op("GET", "/user/shoppingCart/list", "customer", _fixed("/user/shoppingCart/list")),
    Op("DELETE", "/user/shoppingCart/clean", "customer", _fixed("/user/shoppingCart/clean")),
    Op(
        "POST",
        "/user/order/submit",
        "customer",
        _body("/user/order/submit", lambda w, t: {"addressBookId": t or w.victim_address}),
        404,
    ),
    Op(
        "PUT",
        "/user/order/payment",
        "customer",
        _body(
            "/user/order/payment",
            lambda w, t: {"orderNumber": str(t) if t else w.unpaid["orderNumber"]},
        ),
        404,
    ),
    Op("GET", "/user/order/historyOrders", "customer", _fixed("/user/order/historyOrders")),
    Op(
        "GET",
        "/user/order/orderDetail/{id}",
        "customer",
        _order("/user/order/orderDetail/{id}"),
        404,
    ),
    Op(
        "PUT",
        "/user/order/cancel/{id}",
        "customer",
        _order("/user/order/cancel/{id}", "unpaid"),
        404,
    ),
    Op(
        "POST",
        "/user/order/repetition/{id}",
        "customer",
        _order("/user/order/repetition/{id}"),
        404,
    ),
    Op("GET", "/user/order/reminder/{id}", "customer", _order("/user/order/reminder/{id}"), 404),
    # Merchants.
    Op("POST", "/admin/employee/logout", "merchant", _fixed("/admin/employee/logout")),
    Op("GET", "/admin/order/conditionSearch", "merchant", _fixed("/admin/order/conditionSearch")),
    Op("GET", "/admin/order/statistics", "merchant", _fixed("/admin/order/statistics")),
    Op("GET", "/admin/order/details/{id}", "merchant", _order("/admin/order/details/{id}"), 404),
    Op("GET", "/admin/order/{id}/ticket", "merchant", _order("/admin/order/{id}/ticket"), 404),
    Op(
        "PUT",
        "/admin/order/confirm",
        "merchant",
        _body("/admin/order/confirm", lambda w, t: {"id": _victim_order(w, t)}),
        404,
    ),
    Op(
        "PUT",
        "/admin/order/rejection",
        "merchant",
        _body(
            "/admin/order/rejection",
            lambda w, t: {"id": _victim_order(w, t), "rejectionReason": "x"},
        ),
        404,
    ),
    Op(
        "PUT",
        "/admin/order/cancel",
        "merchant",
        _body("/admin/order/cancel", lambda w, t: {"id": _victim_order(w, t), "cancelReason": "x"}),
        404,
    ),
    Op("PUT", "/admin/order/delivery/{id}", "merchant", _order("/admin/order/delivery/{id}"), 404),
    Op("PUT", "/admin/order/complete/{id}", "merchant", _order("/admin/order/complete/{id}"), 404),
    Op("GET", "/admin/alert/unhandled", "merchant", _fixed("/admin/alert/unhandled")),
    Op("PUT", "/admin/shop/{status}", "merchant", _fixed("/admin/shop/0")),
    Op("GET", "/admin/shop/status", "merchant", _fixed("/admin/shop/status")),
    Op("GET", "/admin/shop/status/detail", "merchant", _fixed("/admin/shop/status/detail")),
    Op("GET", "/admin/shop/status/history", "merchant", _fixed("/admin/shop/status/history")),
    Op("GET", "/admin/shop/devices", "merchant", _fixed("/admin/shop/devices")),
    Op("GET", "/admin/report/alerts", "merchant", _fixed("/admin/report/alerts")),
    Op("GET", "/admin/shop/escalation", "merchant", _fixed("/admin/shop/escalation")),
    Op("GET", "/admin/shop/profile", "merchant", _fixed("/admin/shop/profile")),
    Op(
        "PUT",
        "/admin/shop/profile/prepMinutes",
        "merchant",
        _fixed("/admin/shop/profile/prepMinutes", {"prepMinutes": 15}),
    ),
    Op("GET", "/admin/alert/order/{id}", "merchant", _order("/admin/alert/order/{id}"), 404),
    Op("GET", "/admin/printers", "merchant", _fixed("/admin/printers")),
    Op(
        "POST",
        "/admin/printers",
        "merchant",
        # Port 9 of loopback: nothing answers, so no ticket ever leaves the machine.
        _fixed("/admin/printers", {"kind": "escpos-tcp", "address": "127.0.0.1:9", "width": 80}),
    ),
    Op(
        "DELETE",
        "/admin/printers/{id}",
        "merchant",
        lambda w, t: (f"/admin/printers/{t or 1}", None),
        404,
    ),
    Op("GET", "/admin/printers/jobs", "merchant", _fixed("/admin/printers/jobs")),
    Op("POST", "/admin/order/{id}/print", "merchant", _order("/admin/order/{id}/print"), 404),
    Op("GET", "/admin/shop/auto-accept", "merchant", _fixed("/admin/shop/auto-accept")),
    Op(
        "PUT",
        "/admin/shop/auto-accept",
        "merchant",
        _fixed("/admin/shop/auto-accept", {"enabled": False}),
    ),
    Op(
        "PUT",
        "/admin/shop/escalation",
        "merchant",
        _fixed("/admin/shop/escalation", {"warnSeconds": 30}),
    ),
    Op("GET", "/admin/push/key", "merchant", _fixed("/admin/push/key")),
    Op("GET", "/admin/push/subscriptions", "merchant", _fixed("/admin/push/subscriptions")),
    Op(
        "POST",
        "/admin/push/subscriptions",
        "merchant",
        _fixed("/admin/push/subscriptions", PUSH_SUBSCRIPTION),
    ),
    Op(
        "DELETE",
        "/admin/push/subscriptions/{subscription_id}",
        "merchant",
        lambda w, t: (f"/admin/push/subscriptions/{t or 1}", None),
        404,
    ),
    Op(
        "PUT",
        "/admin/alert/dismiss",
        "merchant",
        _body("/admin/alert/dismiss", lambda w, t: {"seq": t or w.reminder_seq}),
        404,
    ),
    Op(
        "PUT",
        "/admin/alert/reply",
        "merchant",
        _body(
            "/admin/alert/reply", lambda w, t: {"orderId": _victim_order(w, t), "reply": "cooking"}
        ),
        404,
    ),
    # Webhooks.
    Op("GET", "/admin/webhooks", "merchant", _fixed("/admin/webhooks")),
    Op(
        "POST",
        "/admin/webhooks",
        "merchant",
        _fixed("/admin/webhooks", {"url": "https://example.com/x", "events": ["order.paid"]}),
    ),
    Op(
        "DELETE",
        "/admin/webhooks/{endpoint_id}",
        "merchant",
        lambda w, t: (f"/admin/webhooks/{t or w.webhook_a}", None),
        404,
    ),
    Op(
        "POST",
        "/admin/webhooks/{endpoint_id}/test",
        "merchant",
        lambda w, t: (f"/admin/webhooks/{t or w.webhook_a}/test", None),
        404,
    ),
    Op("GET", "/admin/webhooks/deliveries", "merchant", _fixed("/admin/webhooks/deliveries")),
    Op(
        "GET",
        "/admin/webhooks/deliveries/{delivery_id}",
        "merchant",
        lambda w, t: (f"/admin/webhooks/deliveries/{t or w.delivery_a}", None),
        404,
    ),
    Op(
        "POST",
        "/admin/webhooks/deliveries/{delivery_id}/resend",
        "merchant",
        lambda w, t: (f"/admin/webhooks/deliveries/{t or w.delivery_a}/resend", None),
        404,
    ),
    # Other order systems, with a shop's API key.
    Op(
        "POST",
        "/api/v1/shops/{shop_id}/alerts",
        "apikey",
        lambda w, t: (f"/api/v1/shops/{w.shop_a}/alerts", {"type": 1, "orderNumber": "X1"}),
        403,
    ),
]

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/user/user/register"),
    ("POST", "/user/user/login"),
    ("POST", "/admin/employee/login"),
    ("GET", "/user/shop/list"),
    ("GET", "/user/dish/list"),
    ("GET", "/user/shop/status"),
}
#: Printers' own endpoints (Star CloudPRNT), behind each printer's HTTP Basic login.
PRINTER = {("POST", "/cloudprnt"), ("GET", "/cloudprnt"), ("DELETE", "/cloudprnt")}
AUTHENTICATED = [op for op in OPERATIONS if op.audience in ("customer", "merchant")]
AIMED = [op for op in OPERATIONS if op.foreign is not None]


async def test_every_operation_of_the_api_is_attacked_here(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        spec = (await http.get("/openapi.json")).json()
    served = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    covered = {(op.method, op.template) for op in OPERATIONS} | PUBLIC | PRINTER
    assert served == covered, {"not attacked": served - covered, "gone": covered - served}


async def test_printer_endpoints_refuse_anyone_but_a_printer(server: Server, world: World) -> None:
    nobody = base64.b64encode(b"nobody:secret").decode()
    wrong = [
        {},
        {"token": world.merchant_a},
        {"authorization": f"Basic {nobody}"},
        {"authorization": "Basic !!!"},
        {"authorization": f"Bearer {world.merchant_a}"},
    ]
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for method, path in sorted(PRINTER):
            for headers in wrong:
                response = await http.request(method, path, headers=headers)
                assert response.status_code == 401, (method, headers, response.text)
                assert response.headers["www-authenticate"].startswith("Basic")


def _bad_tokens(w: World, audience: str) -> list[tuple[str, str | None, dict[str, str], int, str]]:
    """(label, token, extra headers, status, word in the message) an endpoint must refuse."""
    own = (w.victim_id, None) if audience == "customer" else (w.merchant_a_id, w.shop_a)
    other = "merchant" if audience == "customer" else "customer"
    other_login = w.merchant_a if audience == "customer" else w.victim
    cases: list[tuple[str, str | None, dict[str, str], int, str]] = [
        ("no token", None, {}, 401, "log"),
        ("garbage", "not-a-token", {}, 401, "invalid"),
        ("forged", token(audience, *own, secret=OTHER_SECRET), {}, 401, "invalid"),
        ("expired", token(audience, *own, expires_in=timedelta(seconds=-5)), {}, 401, "expired"),
        ("alg none", token(audience, *own, algorithm="none"), {}, 401, "invalid"),
        ("unknown role", token("admin", 1, 1), {}, 401, "invalid"),
        (
            "bearer forged",
            None,
            {"authorization": "Bearer " + token(audience, *own, secret=OTHER_SECRET)},
            401,
            "invalid",
        ),
        ("the other kind's login", other_login, {}, 403, audience),
    ]
    if audience == "merchant":
        cases.append(
            ("merchant without shop", token("merchant", w.merchant_a_id), {}, 401, "invalid")
        )
    _ = other
    return cases


@pytest.mark.parametrize("op", AUTHENTICATED, ids=str)
async def test_no_valid_login_gets_in(server: Server, world: World, op: Op) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for label, value, extra, status, word in _bad_tokens(world, op.audience):
            path, body = op.aim(world, None)
            response = await http.request(
                op.method, path, json=body, headers={**headers_for(op.audience, value), **extra}
            )
            envelope = refused(response, status, word)
            assert envelope["data"] is None, label
            for secret in world.secrets:
                assert secret not in response.text, (label, secret)


@pytest.mark.parametrize("op", AIMED, ids=str)
async def test_someone_elses_ids_read_like_ids_that_do_not_exist(
    server: Server, world: World, op: Op
) -> None:
    attacker = {"customer": world.stranger, "merchant": world.merchant_b}.get(op.audience)
    headers = (
        {"x-api-key": world.key_b}
        if op.audience == "apikey"
        else headers_for(op.audience, attacker)
    )
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        path, body = op.aim(world, None)
        foreign = await http.request(op.method, path, json=body, headers=headers)
        refused(foreign, op.foreign or 0)
        for secret in world.secrets:
            assert secret not in foreign.text, secret
        if op.audience != "apikey":
            other_path, other_body = op.aim(world, NOWHERE)
            missing = await http.request(op.method, other_path, json=other_body, headers=headers)
            assert missing.status_code == foreign.status_code
            # A message may repeat the number that was asked for; nothing else may differ.
            assert _masked(missing.json(), other_path, other_body) == _masked(
                foreign.json(), path, body
            )


def _masked(envelope: dict[str, Any], path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    asked = {str(v) for v in (body or {}).values()} | {path.rsplit("/", 1)[-1]}
    text = str(envelope["msg"])
    for value in sorted(asked, key=len, reverse=True):
        text = text.replace(value, "<asked>")
    return {**envelope, "msg": text}


LISTINGS = [
    ("customer", "/user/order/historyOrders"),
    ("customer", "/user/addressBook/list"),
    ("customer", "/user/addressBook/default"),
    ("customer", "/user/shoppingCart/list"),
    ("merchant", "/admin/order/conditionSearch"),
    ("merchant", "/admin/order/conditionSearch?status=2"),
    ("merchant", "/admin/order/statistics"),
    ("merchant", "/admin/alert/unhandled"),
    ("merchant", "/admin/shop/status/history"),
    ("merchant", "/admin/shop/devices"),
    ("merchant", "/admin/report/alerts"),
    ("merchant", "/admin/printers"),
    ("merchant", "/admin/printers/jobs"),
    ("merchant", "/admin/webhooks"),
    ("merchant", "/admin/webhooks/deliveries"),
    ("merchant", f"/admin/webhooks/deliveries?endpointId={NOWHERE}"),
    ("merchant", "/admin/push/subscriptions"),
]


@pytest.mark.parametrize(("audience", "path"), LISTINGS)
async def test_listings_show_nothing_of_others(
    server: Server, world: World, audience: str, path: str
) -> None:
    attacker = world.stranger if audience == "customer" else world.merchant_b
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.get(path, headers=headers_for(audience, attacker))
    assert response.status_code == 200, response.text
    for secret in world.secrets:
        assert secret not in response.text, secret
    if path.endswith("statistics"):
        assert response.json()["data"] == {
            "toBeConfirmed": 0,
            "confirmed": 0,
            "deliveryInProgress": 0,
        }


async def test_the_publish_api_wants_the_shops_own_key(server: Server, world: World) -> None:
    path, body = f"/api/v1/shops/{world.shop_a}/alerts", {"type": 2, "orderNumber": "X2"}
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        refused(await http.post(path, json=body), 401, "api key")
        refused(await http.post(path, json=body, headers={"x-api-key": "obk_guess"}), 401, "key")
        refused(await http.post(path, json=body, headers={"x-api-key": world.key_b}), 403)
        bearer = {"authorization": f"Bearer {world.key_b}"}
        refused(await http.post(path, json=body, headers=bearer), 403)
        # Logins of people are not API keys.
        refused(
            await http.post(
                path, json=body, headers={"authorization": f"Bearer {world.merchant_a}"}
            ),
            401,
        )


def _close_code(error: BaseException) -> int | None:
    assert isinstance(error, websockets.ConnectionClosed), error
    return error.rcvd.code if error.rcvd else None


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("none", 4401),
        ("garbage", 4401),
        ("forged", 4401),
        ("expired", 4401),
        ("alg none", 4401),
        ("merchant without shop", 4401),
        ("customer", 4403),
    ],
)
async def test_consoles_need_a_live_merchant_token(
    server: Server, world: World, label: str, expected: int
) -> None:
    values = {
        "none": None,
        "garbage": "x.y.z",
        "forged": token("merchant", world.merchant_a_id, world.shop_a, secret=OTHER_SECRET),
        "expired": token(
            "merchant", world.merchant_a_id, world.shop_a, expires_in=timedelta(seconds=-5)
        ),
        "alg none": token("merchant", world.merchant_a_id, world.shop_a, algorithm="none"),
        "merchant without shop": token("merchant", world.merchant_a_id),
        "customer": world.victim,
    }
    async with websockets.connect(server.ws_url(values[label], protocol="2")) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)  # not even a hello
    assert _close_code(closed.value) == expected


async def test_an_attackers_console_hears_nothing_of_the_victims_shop(
    server: Server, world: World
) -> None:
    api_victim = httpx.AsyncClient(base_url=server.base_url)
    try:
        async with (
            websockets.connect(server.ws_url(world.merchant_a, sid="a")) as own,
            websockets.connect(server.ws_url(world.merchant_b, sid="a")) as foreign,
            websockets.connect(server.ws_url(world.merchant_b, sid="b", since="0")) as replaying,
        ):
            # The victim pays a new order and reminds it: shop A hears both.
            for dish in world.dishes_a[:1]:
                await api_victim.post(
                    "/user/shoppingCart/add",
                    json={"dishId": dish},
                    headers={"authentication": world.victim},
                )
            order = (
                await api_victim.post(
                    "/user/order/submit",
                    json={"addressBookId": world.victim_address},
                    headers={"authentication": world.victim},
                )
            ).json()["data"]
            paid = await api_victim.put(
                "/user/order/payment",
                json={"orderNumber": order["orderNumber"]},
                headers={"authentication": world.victim},
            )
            assert paid.status_code == 200, paid.text
            frames = await collect(own, 1)
            assert [(f["type"], f["orderId"]) for f in frames] == [(1, order["id"])]
            assert await silence(foreign, 0.5) == []
            assert all(f.get("shopId") != world.shop_a for f in await collect(replaying, 50, 1))
    finally:
        await api_victim.aclose()


async def test_after_all_attacks_the_victims_things_are_untouched(
    server: Server, world: World
) -> None:
    # Runs last in this module: every attack above has been made.
    assert rows(server, "SELECT status, pay_status FROM orders WHERE id = ?", world.paid["id"]) == [
        (2, 1)
    ]
    assert rows(
        server, "SELECT status, pay_status FROM orders WHERE id = ?", world.unpaid["id"]
    ) == [(1, 0)]
    reminders = rows(
        server,
        "SELECT handled_at FROM alert WHERE order_id = ? AND type = 2",
        world.paid["id"],
    )
    assert reminders == [(None,)], "the reminder is still open: no foreign reply handled it"
    # The stranger's cart still holds the dish of shop B: the refused submit
    # with the victim's address cleared nothing.
    assert len(rows(server, "SELECT id FROM shopping_cart WHERE shop_id = ?", world.shop_b)) == 1
    assert rows(server, "SELECT COUNT(*) FROM orders WHERE shop_id = ?", world.shop_b) == [(0,)]
    assert rows(
        server, "SELECT COUNT(*) FROM alert WHERE shop_id = ? AND source = 'api'", world.shop_a
    ) == [(0,)]
    # The victim's endpoint is still there, with one delivery (the test event).
    assert rows(
        server, "SELECT removed_at FROM webhook_endpoint WHERE id = ?", world.webhook_a
    ) == [(None,)]
    assert rows(server, "SELECT COUNT(*) FROM outgoing WHERE target_id = ?", world.webhook_a) == [
        (1,)
    ]
    assert broken_invariants(server) == {}
