"""Real orderbell server processes on free loopback ports, and an HTTP client of them."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from orderbell.services.accounts import create_merchant, create_shop
from orderbell.storage.database import Database
from orderbell.storage.tables import Dish

PASSWORD = "secret123"
_phones = itertools.count(int(time.time() * 1000) % 10**8)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``orderbell serve`` process."""

    port: int
    database_url: str
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)
    #: Another way to start it (``{port}`` is filled in), e.g. plain uvicorn.
    command: list[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, token: str | None, sid: str = "console", **params: str) -> str:
        query = "&".join(
            f"{k}={v}" for k, v in ({"token": token} | params).items() if v is not None
        )
        return f"ws://127.0.0.1:{self.port}/ws/{sid}" + (f"?{query}" if query else "")

    def start(self, timeout: float = 20) -> None:
        with self.log_path.open("ab") as log:
            default = [
                sys.executable,
                "-m",
                "orderbell",
                "serve",
                "--port",
                "{port}",
                *self.extra_args,
            ]
            self.process = subprocess.Popen(
                [arg.format(port=self.port) for arg in self.command or default],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def migrate(env: dict[str, str]) -> None:
    """Bring the database of ``env``'s ORDERBELL_DATABASE_URL to the newest schema."""
    subprocess.run(
        [sys.executable, "-m", "orderbell", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def server_env(
    database_url: str,
    *,
    log_level: str = "warning",
    secret: str | None = None,
    clean: bool = False,
    **settings: str,
) -> dict[str, str]:
    """The environment of a server process: ``settings`` become ``ORDERBELL_*``
    variables; ``clean`` drops the ``ORDERBELL_*`` variables this run was given."""
    env = {k: v for k, v in os.environ.items() if not (clean and k.startswith("ORDERBELL_"))}
    env.update(ORDERBELL_DATABASE_URL=database_url, ORDERBELL_LOG_LEVEL=log_level)
    if secret is not None:
        env["ORDERBELL_SECRET_KEY"] = secret
    # Shops of tests are mostly unattended: no pause unless a test turns it on.
    settings = {"unattended_pause_seconds": "0", **settings}
    env.update({f"ORDERBELL_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def running_server(
    tmp: Path,
    *,
    database_url: str | None = None,
    command: list[str] | None = None,
    log_level: str = "warning",
    secret: str | None = None,
    clean: bool = False,
    **settings: str,
) -> Iterator[Server]:
    """A migrated database (a SQLite file in ``tmp`` unless ``database_url`` names
    another) and a server on it, stopped at the end. See ``server_env`` for the rest."""
    tmp.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite+aiosqlite:///{tmp / 'orderbell.db'}"
    env = server_env(database_url, log_level=log_level, secret=secret, clean=clean, **settings)
    migrate(env)
    server = Server(free_port(), database_url, tmp / "server.log", env, command=command)
    start(server)
    try:
        yield server
    finally:
        server.stop()


def start(server: Server) -> None:
    """Start ``server``, on another free port if its port was taken in the meantime
    (other test runs on this machine pick free ports too)."""
    for attempt in range(3):
        try:
            server.start()
            return
        except RuntimeError as exc:
            if "in use" not in str(exc) or attempt == 2:
                raise
            server.port = free_port()


def second_process(first: Server, tmp: Path, name: str = "second") -> Server:
    """Another server process on the same database and settings as ``first`` (not started)."""
    return Server(free_port(), first.database_url, tmp / f"{name}.log", dict(first.env))


@dataclass
class ShopKit:
    """A fresh shop of its own for one test: its id, dishes and a merchant login."""

    shop_id: int
    dish_ids: list[int]
    username: str


async def new_shop(database_url: str, name: str = "Test Kitchen") -> ShopKit:
    """Create a shop with two dishes and a merchant, straight in the database."""
    db = Database(database_url)
    try:
        shop = await create_shop(db, name)
        async with db.transaction() as session:
            dishes = [
                Dish(shop_id=shop.id, name="宫保鸡丁", price=Decimal("28.00")),
                Dish(shop_id=shop.id, name="米饭", price=Decimal("2.00")),
            ]
            session.add_all(dishes)
            await session.flush()
            dish_ids = [d.id for d in dishes]
        username = f"m{shop.id}x{next(_phones)}"[:32]
        await create_merchant(
            db, shop_id=shop.id, username=username, password=PASSWORD, name=username
        )
        return ShopKit(shop.id, dish_ids, username)
    finally:
        await db.dispose()


class Api:
    """An HTTP client of one server, with the envelope unpacked."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.base_url, timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        header: str = "authentication",
        **kw: Any,
    ) -> httpx.Response:
        headers = {header: token} if token else {}
        return await self.http.request(method, path, headers=headers, **kw)

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        response = await self.call(method, path, **kw)
        body = response.json()
        assert response.status_code == 200 and body["code"] == 1, (response.status_code, body)
        return body["data"]

    async def merchant_token(self, username: str, password: str = PASSWORD) -> str:
        data = await self.ok(
            "POST", "/admin/employee/login", json={"username": username, "password": password}
        )
        return str(data["token"])

    async def new_customer(self) -> tuple[str, int]:
        """Register and log in a fresh customer with one address; (token, address id)."""
        phone = f"139{next(_phones) % 10**8:08d}"
        await self.ok(
            "POST",
            "/user/user/register",
            json={"phone": phone, "password": PASSWORD, "name": "顾客"},
        )
        data = await self.ok(
            "POST", "/user/user/login", json={"phone": phone, "password": PASSWORD}
        )
        token = str(data["token"])
        address = await self.ok(
            "POST",
            "/user/addressBook",
            token=token,
            json={"consignee": "李四", "phone": phone, "detail": "测试路 1 号", "sex": "1"},
        )
        return token, int(address["id"])

    async def place_order(
        self, token: str, address_id: int, dish_ids: list[int], remark: str = ""
    ) -> dict[str, Any]:
        """Fill the cart and submit; returns the submit response's data."""
        for dish_id in dish_ids:
            await self.ok("POST", "/user/shoppingCart/add", token=token, json={"dishId": dish_id})
        data: dict[str, Any] = await self.ok(
            "POST",
            "/user/order/submit",
            token=token,
            json={"addressBookId": address_id, "remark": remark},
        )
        return data

    async def pay(self, token: str, order_number: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.ok(
            "PUT", "/user/order/payment", token=token, json={"orderNumber": order_number}
        )
        return data
