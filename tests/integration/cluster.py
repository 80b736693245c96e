"""Several real orderbell processes sharing one database and one Redis, and consoles
that record every alert they get (reconnecting with ``since`` when cut off)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import websockets
from sqlalchemy import select

from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow
from tests.e2e.server import Api, Server, ShopKit, free_port

# Short intervals, so that a lost connection is noticed and replaced within
# about a second and the relay runs often.
FAST = {
    "ORDERBELL_BROKER_HEALTH_CHECK_SECONDS": "0.5",
    "ORDERBELL_BROKER_TIMEOUT_SECONDS": "1",
    "ORDERBELL_BROKER_RECONNECT_MAX_SECONDS": "0.5",
    "ORDERBELL_RELAY_INTERVAL_SECONDS": "0.5",
    "ORDERBELL_LOG_LEVEL": "warning",
}


def cluster_env(database_url: str, broker_url: str, prefix: str, **settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FAST)
    env.update(
        ORDERBELL_DATABASE_URL=database_url,
        ORDERBELL_BROKER_URL=broker_url,
        ORDERBELL_BROKER_CHANNEL_PREFIX=prefix,
    )
    env.update({f"ORDERBELL_{k.upper()}": v for k, v in settings.items()})
    return env


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


@contextmanager
def cluster(
    tmp: Path,
    *,
    database_url: str,
    broker_url: str,
    prefix: str,
    count: int = 2,
    **settings: str,
) -> Iterator[list[Server]]:
    """``count`` server processes on one (migrated) database and one broker, stopped at the end."""
    env = cluster_env(database_url, broker_url, prefix, **settings)
    servers = [Server(free_port(), database_url, tmp / f"server{i}.log", env) for i in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(start, servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


class Console:
    """A merchant console that records the seq of every alert frame it receives.

    When its connection ends it reconnects with ``since=<last seq>``, to the
    next server of ``servers`` if ``failover`` is set (as a console behind a
    proxy would land on another process), a bounded number of times.
    """

    def __init__(
        self, servers: Sequence[Server], token: str, *, first: int = 0, failover: bool = False
    ) -> None:
        self.servers = list(servers)
        self.token = token
        self.current = first
        self.failover = failover
        self.seqs: list[int] = []
        self.frames: list[dict[str, Any]] = []
        self.connections: list[int] = []  # the port of each connection made
        self._open = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, within: float = 10) -> Console:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._open.wait(), within)
        return self

    async def _run(self) -> None:
        for attempt in range(50):
            server = self.servers[self.current]
            since = str(self.seqs[-1]) if self.seqs else "0"
            try:
                async with websockets.connect(
                    server.ws_url(self.token, sid=f"c{id(self)}", since=since), open_timeout=3
                ) as ws:
                    self.connections.append(server.port)
                    self._open.set()
                    async for raw in ws:
                        frame = orjson.loads(raw)
                        if isinstance(frame.get("type"), int):
                            self.frames.append(frame)
                            self.seqs.append(int(frame["seq"]))
            except (
                OSError,
                TimeoutError,
                websockets.ConnectionClosed,
                websockets.InvalidHandshake,
            ):
                pass
            if self.failover:
                self.current = (self.current + 1) % len(self.servers)
            await asyncio.sleep(min(0.05 * 2**attempt, 0.5))

    async def wait_for(self, count: int, within: float = 20, settle: float = 0.3) -> list[int]:
        """The seqs received, once there are ``count`` of them or ``within`` seconds
        passed, and then ``settle`` seconds more, so that a late duplicate is seen too."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.seqs) < count and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)
        return list(self.seqs)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def report(watching: Sequence[Console], count: int, servers: Sequence[Server] = ()) -> str:
    """What each console got wrong, and the servers' warnings: for a failing assertion."""
    lines = []
    for i, console in enumerate(watching):
        seqs = console.seqs
        missing = sorted(set(range(1, count + 1)) - set(seqs))
        twice = sorted({s for s in seqs if seqs.count(s) > 1})
        lines.append(
            f"console {i}: connections to ports {console.connections}, {len(seqs)} alerts, "
            f"missing {missing}, twice {twice}, out of order {seqs != sorted(seqs)}"
        )
    for server in servers:
        noted = [
            line
            for line in server.log_path.read_text(errors="replace").splitlines()
            if "WARNING" in line or "ERROR" in line or "giving up" in line
        ]
        lines.append(f"server {server.port}: " + " | ".join(noted[-15:]))
    return "\n".join(lines)


async def all_received(
    watching: Sequence[Console], count: int, within: float = 20
) -> list[list[int]]:
    """Each console's seqs, once all have ``count`` of them (or ``within`` passed)."""
    await asyncio.gather(*(c.wait_for(count, within, settle=0) for c in watching))
    await asyncio.sleep(0.3)
    return [list(c.seqs) for c in watching]


@contextlib.asynccontextmanager
async def consoles(*made: Any) -> Any:
    started = [await c.start() for c in made]
    try:
        yield started
    finally:
        for console in started:
            await console.close()


async def logged_seqs(database_url: str, shop_id: int) -> list[int]:
    """The seqs of the shop's alerts in the log, in order."""
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            rows = await session.scalars(
                select(AlertRow.seq).where(AlertRow.shop_id == shop_id).order_by(AlertRow.seq)
            )
            return [int(s) for s in rows]
    finally:
        await db.dispose()


async def place_orders(api: Api, kit: ShopKit, count: int) -> list[dict[str, Any]]:
    """``count`` unpaid orders of the shop by one new customer (one after another:
    a customer has one cart). Each item is ``{"token", "number", "id"}``."""
    token, address = await api.new_customer()
    orders = []
    for _ in range(count):
        data = await api.place_order(token, address, [kit.dish_ids[0]])
        orders.append({"token": token, "number": data["orderNumber"], "id": data["id"]})
    return orders


async def place_many(
    apis: Sequence[Api], kit: ShopKit, count: int, customers: int
) -> list[dict[str, Any]]:
    """``count`` unpaid orders from ``customers`` customers working in parallel,
    spread over the servers of ``apis``."""
    per = [count // customers + (1 if i < count % customers else 0) for i in range(customers)]
    batches = await asyncio.gather(
        *(place_orders(apis[i % len(apis)], kit, n) for i, n in enumerate(per) if n)
    )
    return [order for batch in batches for order in batch]


def expected(count: int) -> list[int]:
    return list(range(1, count + 1))
