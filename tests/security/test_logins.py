"""Logins: guessing is throttled per account and per address (in every server
process alike), passwords are stored as argon2 hashes, and neither passwords
nor tokens reach the server's log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.security.attack import SECRET, refused, rows, serve
from tests.support.servers import PASSWORD, Api, Server, new_shop, second_process, start

# Long enough for a burst of slow (argon2) failed logins on a busy machine to
# fall in one window; the tests poll for its end rather than sleep through it.
WINDOW = 10.0
PER_ACCOUNT = 3
PER_ADDRESS = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(
        Path(tmp_path_factory.mktemp("logins")),
        login_max_failures_per_account=str(PER_ACCOUNT),
        login_max_failures_per_address=str(PER_ADDRESS),
        login_failure_window_seconds=str(WINDOW),
    ) as srv:
        yield srv


def _from(address: str) -> dict[str, str]:
    # The server believes X-Forwarded-For from 127.0.0.1 (a proxy on the
    # same machine); these are documentation addresses, never contacted.
    return {"x-forwarded-for": address}


async def _merchant_login(
    http: httpx.AsyncClient, username: str, password: str, address: str = "192.0.2.1"
) -> httpx.Response:
    return await http.post(
        "/admin/employee/login",
        json={"username": username, "password": password},
        headers=_from(address),
    )


async def _once_unpaused(
    send: Callable[[], Awaitable[httpx.Response]], tries: int = 4
) -> httpx.Response:
    """The first answer to ``send`` that is not a 429, trying again each time after
    the ``Retry-After`` that the refusal names, as a well-behaved client does.

    A pause ends by the server's clock, which this test cannot move. Trying
    sooner is no way to find out: each try while paused counts as a failure,
    and tries that alternate between two counters keep one of them paused.
    """
    for _ in range(tries):
        response = await send()
        if response.status_code != 429:
            return response
        wait = int(response.headers["retry-after"])
        assert 1 <= wait <= WINDOW + 1, wait
        await asyncio.sleep(wait)  # the moment the server named, not a guess
    raise AssertionError(f"still refused after {tries} waits of Retry-After")


async def test_an_account_is_paused_after_too_many_failures(server: Server) -> None:
    kit = await new_shop(server.database_url)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for _ in range(PER_ACCOUNT):
            refused(await _merchant_login(http, kit.username, "wrong-pass"), 401, "wrong")
        paused = await _merchant_login(http, kit.username, "wrong-pass")
        body = refused(paused, 429, "this account", "try again")
        wait = int(paused.headers["retry-after"])
        assert 1 <= wait <= WINDOW + 1 and body["data"]["retryAfter"] == wait
        # Even the right password waits: guessing it now proves nothing.
        refused(await _merchant_login(http, kit.username, PASSWORD), 429, "this account")
        # Another account from the same address is not paused.
        other = await new_shop(server.database_url)
        assert (await _merchant_login(http, other.username, PASSWORD)).status_code == 200
        paused_at = asyncio.get_running_loop().time()
        after = await _once_unpaused(lambda: _merchant_login(http, kit.username, PASSWORD))
        assert after.status_code == 200, after.text
        assert asyncio.get_running_loop().time() - paused_at > wait - 1, "not before Retry-After"


async def test_an_address_is_paused_after_spraying_many_accounts(server: Server, api: Api) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        sprayer = "192.0.2.77"
        for i in range(PER_ADDRESS):
            response = await http.post(
                "/user/user/login",
                json={"phone": f"1370000{i:04d}", "password": "guess-123"},
                headers=_from(sprayer),
            )
            refused(response, 401)
        response = await http.post(
            "/user/user/login",
            json={"phone": "13700009999", "password": "guess-123"},
            headers=_from(sprayer),
        )
        refused(response, 429, "network address")
        assert int(response.headers["retry-after"]) >= 1
        # Someone else, elsewhere, logs in as usual.
        customer, _ = await api.new_customer()
        assert customer
        # Once the window is over, a guess is answered again (and refused).
        response = await _once_unpaused(
            lambda: http.post(
                "/user/user/login",
                json={"phone": "13700009999", "password": "guess-123"},
                headers=_from(sprayer),
            )
        )
        refused(response, 401)


async def test_a_burst_of_guesses_gets_no_more_tries_than_the_limit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = Path(tmp_path_factory.mktemp("burst"))
    with serve(
        tmp, login_max_failures_per_account=str(PER_ACCOUNT), login_failure_window_seconds="60"
    ) as first:
        second = second_process(first, tmp)
        start(second)
        try:
            kit = await new_shop(first.database_url)
            async with (
                httpx.AsyncClient(base_url=first.base_url) as a,
                httpx.AsyncClient(base_url=second.base_url) as b,
            ):
                responses = await asyncio.gather(
                    *(
                        _merchant_login(
                            a if i % 2 else b, kit.username, f"guess-{i}", f"192.0.2.{i}"
                        )
                        for i in range(24)
                    )
                )
        finally:
            second.stop()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * PER_ACCOUNT + [429] * (24 - PER_ACCOUNT)


async def test_a_good_login_is_not_counted_but_forgets_nothing(server: Server) -> None:
    kit = await new_shop(server.database_url)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        addr = "192.0.2.200"
        for password, status in [
            ("wrong-1", 401),
            (PASSWORD, 200),
            ("wrong-2", 401),
            (PASSWORD, 200),
            ("wrong-3", 401),
            ("wrong-4", 429),
        ]:
            response = await _merchant_login(http, kit.username, password, addr)
            assert response.status_code == status, (password, response.text)


async def test_the_counters_keep_no_names_or_addresses(server: Server) -> None:
    stored = rows(server, "SELECT key FROM login_throttle")
    assert stored, "failures were counted"
    text = " ".join(k for (k,) in stored)
    assert "192.0.2" not in text and "1370000" not in text
    assert all(len(k) == 64 for (k,) in stored)


async def test_passwords_are_stored_as_argon2_hashes(server: Server, api: Api) -> None:
    await api.new_customer()
    hashes = rows(server, "SELECT password_hash FROM customer") + rows(
        server, "SELECT password_hash FROM merchant"
    )
    assert hashes
    for (stored,) in hashes:
        assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_password_or_token_reaches_the_log(tmp_path: Path, log_format: str) -> None:
    with serve(tmp_path, log_level="debug", log_format=log_format) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            customer, _ = await api.new_customer()
            await api.call(
                "POST",
                "/admin/employee/login",
                json={"username": kit.username, "password": "oops-Pw9"},
            )
            await api.call("GET", f"/user/shop/list?token={merchant}&password=oops-Pw9")
            await api.call("GET", "/user/order/historyOrders", token=customer)
            await api.call("GET", f"/admin/order/statistics?token={customer}")
            async with websockets.connect(server.ws_url(merchant, sid="logged")) as ws:
                await ws.send("hello")
            async with websockets.connect(server.ws_url(customer, sid="refused")) as ws:
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
            with pytest.raises(InvalidStatus):
                async with websockets.connect(
                    server.ws_url(merchant, sid="foreign"), origin="https://evil.example"
                ):
                    pass
        finally:
            await api.aclose()
            server.stop()
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "/ws/logged" in log and "/user/shop/list" in log, "the requests were logged"
    assert "token=***" in log
    for secret in (merchant, customer, PASSWORD, "oops-Pw9", SECRET):
        assert secret not in log
    # Not even a recognisable piece of a token (their signatures are unique).
    for secret in (merchant, customer):
        assert secret.rsplit(".", 1)[1] not in log


def _serve_until_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderbell", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("secret", "words"),
    [
        (None, "ORDERBELL_SECRET_KEY"),  # the development secret
        ("short-secret-123", "at least 32"),
    ],
)
def test_production_refuses_the_development_or_a_short_secret(
    tmp_path: Path, secret: str | None, words: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERBELL_")}
    env.update(
        ORDERBELL_ENVIRONMENT="production",
        ORDERBELL_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
    )
    if secret is not None:
        env["ORDERBELL_SECRET_KEY"] = secret
    result = _serve_until_exit(env)
    assert result.returncode != 0
    assert words in result.stderr + result.stdout
