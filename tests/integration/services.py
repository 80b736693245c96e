"""The real PostgreSQL and Redis the integration tests use, each test in its own corner.

Other test runs may use the same servers at the same time, so every test
gets a database of its own (created and dropped here) and a Redis channel
prefix of its own (pub/sub channels ignore the database number, so the
prefix is what separates runs). Connections a test drops are found by
their client name, which carries that prefix: no one else's are touched.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis

from tests.support.servers import free_port

T = TypeVar("T")

REDIS_URL = os.environ.get("ORDERBELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Trust authentication on this machine; "postgres" or "root" is the superuser.
POSTGRES_URLS = [
    u
    for u in (
        os.environ.get("ORDERBELL_TEST_POSTGRES_URL"),
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgresql://root@127.0.0.1:5432/test",
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://root@127.0.0.1:5432/postgres",
    )
    if u
]


def run_sync(work: Awaitable[T]) -> T:
    """Run a coroutine to completion from synchronous code, inside a test's loop or not."""

    async def main() -> T:
        return await work

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Call a function that runs its own event loop (migrations), from anywhere."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def redis_available(url: str = REDIS_URL) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def postgres_admin_url() -> str | None:
    """The first PostgreSQL URL (of the candidates) that accepts a connection."""

    async def probe(url: str) -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    for url in POSTGRES_URLS:
        if run_sync(probe(url)):
            return url
    return None


def with_database(url: str, name: str, driver: str = "postgresql") -> str:
    parts = urlsplit(url)
    return urlunsplit((driver, parts.netloc, f"/{name}", "", ""))


async def _execute(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_database(admin_url: str, *, template: str | None = None) -> Iterator[str]:
    """A new database for one test, empty or a copy of ``template`` (a database
    name); yields its SQLAlchemy (asyncpg) URL and drops it afterwards."""
    name = f"orderbell_test_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    run_sync(_execute(admin_url, f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield with_database(admin_url, name, "postgresql+asyncpg")
    finally:
        # FORCE ends connections a killed server process may have left.
        run_sync(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def new_prefix() -> str:
    """A channel prefix no other test run uses."""
    return f"obtest-{secrets.token_hex(5)}"


async def drop_redis_clients(url: str, prefix: str, kinds: tuple[str, ...] = ("sub", "pub")) -> int:
    """Close the Redis connections of orderbell processes using ``prefix`` (by client
    name), as a network failure or a Redis restart would; returns how many."""
    import redis.asyncio as aioredis

    admin = aioredis.Redis.from_url(url, socket_timeout=3)
    try:
        killed = 0
        for client in await admin.client_list():
            name = str(client.get("name", ""))
            if any(name.startswith(f"{prefix}:{kind}:") for kind in kinds):
                killed += int(await admin.client_kill_filter(_id=client["id"]))
        return killed
    finally:
        await admin.aclose()


@dataclass
class PrivateRedis:
    """A redis-server of this test's own, on a free port, that the test may kill."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if redis_available(self.url):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0
