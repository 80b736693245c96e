"""The SDK and ``orderbell listen`` log in again by themselves when their token is no
longer accepted, and keep trying while that login cannot be done: the server is
down, answers with an error, or its login throttle answers 429. Only a refused
password ends them.

The token is made invalid the way a restart with a new signing key does it
(as an expired token would, without waiting a token lifetime). Logins fail
with a server error while the throttle's table is renamed away, so a test
decides when the client may log in again, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import update

from orderbell.client import Alert, ConsoleClient, LoginFailed, Status
from orderbell.security import hash_password
from orderbell.services.login_throttle import throttle_key
from orderbell.storage.database import Database
from orderbell.storage.tables import Merchant, utcnow
from tests.support.polling import wait_until
from tests.support.servers import PASSWORD, Api, Server, ShopKit, new_shop, running_server
from tests.support.terminal import read_lines, start_listen

FIRST_KEY = "first-signing-key-of-these-tests-0c7d2e91"
SECOND_KEY = "second-signing-key-of-these-tests-5a1f08b3"
#: How long the throttle pauses an account: more than the client's backoff
#: (0.5 s at most here), so a 429 is certain once the pause is written.
WINDOW = 5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(
        tmp_path,
        secret=FIRST_KEY,
        login_max_failures_per_account="1",
        login_failure_window_seconds=str(WINDOW),
    ) as srv:
        yield srv


def sqlite(server: Server, *statements: str, params: tuple[object, ...] = ()) -> None:
    """Run statements on the server's SQLite file in one transaction (``params``
    go to the last one)."""
    conn = sqlite3.connect(server.database_url.split(":///", 1)[1], isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statement in statements[:-1]:
            conn.execute(statement)
        conn.execute(statements[-1], params)
        conn.execute("COMMIT")
    finally:
        conn.close()


def break_logins(server: Server) -> None:
    """Every login answers 500 from now on: the throttle's table is gone."""
    sqlite(server, "ALTER TABLE login_throttle RENAME TO login_throttle_away")


def mend_logins(server: Server, *, pause: str | None = None) -> None:
    """Logins work again; with ``pause``, that merchant's account is paused by the
    throttle for WINDOW seconds from now (too many failed logins)."""
    back = "ALTER TABLE login_throttle_away RENAME TO login_throttle"
    if pause is None:
        sqlite(server, back)
        return
    sqlite(
        server,
        back,
        "INSERT OR REPLACE INTO login_throttle (key, window_start, failures) VALUES (?, ?, ?)",
        params=(
            throttle_key("account", f"merchant:{pause}"),
            utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"),
            2,
        ),
    )


def restart_with_new_key(server: Server) -> None:
    """Tokens issued before are refused from now on (4401), as expired ones are."""
    server.stop(signal.SIGKILL)
    server.env["ORDERBELL_SECRET_KEY"] = SECOND_KEY
    server.start()


class Watched:
    """A ``ConsoleClient`` whose ``events()`` run in a task; every event is kept."""

    def __init__(self, client: ConsoleClient) -> None:
        self.client = client
        self.events: list[Any] = []
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.client.events():
            self.events.append(event)

    def statuses(self, state: str, *words: str) -> list[Status]:
        return [
            e
            for e in self.events
            if isinstance(e, Status) and e.state == state and all(w in e.detail for w in words)
        ]

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events if isinstance(e, Alert)]

    async def until(self, check: Callable[[], object], what: str, within: float = 30) -> None:
        """Wait for ``check``; fail at once, with the reason, if ``events()`` ended."""

        def ready() -> object:
            if self.task.done():
                raise AssertionError(
                    f"events() ended while waiting for {what}: {self.task.exception()!r}"
                )
            return check()

        try:
            await wait_until(ready, within, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; events: {self.events}") from None


@contextlib.asynccontextmanager
async def watched(server: Server, kit: ShopKit) -> AsyncIterator[Watched]:
    client = ConsoleClient(server.base_url, kit.username, PASSWORD, backoff_max=0.5)
    await client.login()
    watcher = Watched(client)
    try:
        await watcher.until(lambda: watcher.statuses("connected"), "the first connection")
        yield watcher
    finally:
        watcher.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher.task
        await client.aclose()


async def pay_new_order(api: Api, kit: ShopKit) -> None:
    customer, address = await api.new_customer()
    order = await api.place_order(customer, address, [kit.dish_ids[0]])
    await api.pay(customer, order["orderNumber"])


async def test_the_sdk_keeps_logging_in_while_the_server_fails_or_is_stopped(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    async with watched(server, kit) as console:
        await pay_new_order(api, kit)
        await console.until(lambda: console.seqs == [1], "the first alert")

        break_logins(server)
        restart_with_new_key(server)
        await console.until(
            lambda: console.statuses("reconnecting", "login", "HTTP 500"), "a failed login"
        )
        # The server stops while the client must log in again.
        server.stop(signal.SIGKILL)
        await console.until(
            lambda: console.statuses("reconnecting", "login", "cannot reach"),
            "a login that found no server",
        )
        mend_logins(server)
        server.start()
        await console.until(lambda: len(console.statuses("connected")) >= 2, "a new connection")
        await pay_new_order(api, kit)
        await console.until(lambda: console.seqs == [1, 2], "the alert raised after the restart")
        assert not console.task.done()
        assert console.client.shop_id == kit.shop_id


async def test_a_throttled_login_is_tried_again_after_retry_after(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    async with watched(server, kit) as console:
        break_logins(server)
        restart_with_new_key(server)
        await console.until(lambda: console.statuses("reconnecting", "HTTP 500"), "a failed login")
        mend_logins(server, pause=kit.username)
        await console.until(lambda: console.statuses("reconnecting", "429"), "a throttled login")
        await console.until(lambda: len(console.statuses("connected")) >= 2, "a new connection")
        throttled = console.statuses("reconnecting", "429")
        # backoff_max is 0.5 s: a longer wait is the server's Retry-After, honoured,
        # so the client tries once or twice, not once per backoff step.
        assert all(s.delay >= 1 for s in throttled), throttled
        assert len(throttled) <= 2, throttled
        await pay_new_order(api, kit)
        await console.until(lambda: console.seqs == [1], "an alert after the pause")


async def test_a_refused_password_still_ends_events_with_login_failed(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    async with watched(server, kit) as console:
        # Meanwhile the owner changed the password: the client's one is wrong now.
        db = Database(server.database_url)
        try:
            async with db.transaction() as session:
                await session.execute(
                    update(Merchant)
                    .where(Merchant.username == kit.username)
                    .values(password_hash=hash_password("a-new-password-9"))
                )
        finally:
            await db.dispose()
        break_logins(server)
        restart_with_new_key(server)
        await console.until(lambda: console.statuses("reconnecting", "HTTP 500"), "a failed login")
        mend_logins(server, pause=kit.username)
        await wait_until(console.task.done, what="events() to end")
        assert isinstance(console.task.exception(), LoginFailed), console.task.exception()
        assert console.statuses("reconnecting", "429"), "the pause was waited out first"


class Listening:
    """``orderbell listen`` as a subprocess, with what it printed so far."""

    def __init__(self, server: Server, username: str, state: Path) -> None:
        self.process = start_listen(server, username, state)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            asyncio.create_task(read_lines(self.process.stdout, self.out)),
            asyncio.create_task(read_lines(self.process.stderr, self.err)),
        ]

    def noted(self, *words: str) -> list[str]:
        """Its status lines holding all of ``words``; fails the test once it has exited."""
        if self.process.poll() is not None:
            raise AssertionError(
                f"listen exited with {self.process.returncode}: {''.join(self.err)}"
            )
        return [line for line in self.err if all(w in line for w in words)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        for reader in self.readers:
            reader.cancel()
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


async def test_orderbell_listen_keeps_running_through_a_failed_login_again(
    server: Server, api: Api, tmp_path: Path
) -> None:
    kit = await new_shop(server.database_url)
    listen = Listening(server, kit.username, tmp_path / "listen.seq")
    noted, out = listen.noted, listen.out
    try:
        await wait_until(lambda: noted("connected"), what="listen to connect")
        break_logins(server)
        restart_with_new_key(server)
        await wait_until(lambda: noted("HTTP 500", "reconnecting in"), what="a failed login")
        server.stop(signal.SIGKILL)
        await wait_until(
            lambda: noted("cannot reach", "reconnecting in"), what="a login that found no server"
        )
        mend_logins(server)
        server.start()
        # listen's backoff grows to 30 s: a reconnect may take that long.
        await wait_until(lambda: len(noted("connected")) >= 2, 90, what="a new connection")
        await pay_new_order(api, kit)
        await wait_until(lambda: out, what="the alert raised after the restart")
        assert listen.process.poll() is None, "listen is still running"
    finally:
        listen.stop()
    [line] = out
    alert = orjson.loads(line)
    assert (alert["event"], alert["seq"], alert["type"]) == ("alert", 1, 1)


async def test_orderbell_listen_waits_out_a_first_login_the_server_cannot_answer(
    server: Server, api: Api, tmp_path: Path
) -> None:
    kit = await new_shop(server.database_url)
    break_logins(server)
    listen = Listening(server, kit.username, tmp_path / "listen.seq")
    noted, out, err = listen.noted, listen.out, listen.err
    try:
        await wait_until(lambda: noted("HTTP 500", "reconnecting in"), what="a failed first login")
        mend_logins(server)
        await wait_until(lambda: noted("connected"), 90, what="a connection once logins work")
        await pay_new_order(api, kit)
        await wait_until(lambda: out, what="the alert")
    finally:
        listen.stop()
    assert "Traceback" not in "".join(err)
    [line] = out
    assert orjson.loads(line)["seq"] == 1
