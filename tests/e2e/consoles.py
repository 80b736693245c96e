"""A resuming console for tests: reconnects with ``since`` and records every frame it gets."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import websockets

from orderbell.storage.database import Database
from orderbell.storage.tables import Order, OrderDetail, utcnow
from tests.e2e.server import Server


@dataclass
class ResumingConsole:
    """Connects, and after any drop reconnects with ``since=<last seq>`` until stopped.

    ``wire`` keeps every alert frame as received (to check that the server
    sends none twice); ``close_codes`` the codes of the closes it saw.
    """

    server: Server
    token: str
    protocol: int = 2
    wire: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    connects: int = 0
    _task: asyncio.Task[None] | None = None
    _stop: bool = False

    @property
    def last_seq(self) -> int:
        return self.wire[-1]["seq"] if self.wire else 0

    @property
    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.wire]

    def start(self) -> ResumingConsole:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        self._stop = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, count: int, within: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.wire) < count and loop.time() < deadline:
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        delay = 0.05
        while not self._stop:
            params = {"protocol": str(self.protocol)} if self.protocol == 2 else {}
            if self.wire:
                params["since"] = str(self.last_seq)
            try:
                async with websockets.connect(
                    self.server.ws_url(self.token, **params), open_timeout=3
                ) as ws:
                    self.connects += 1
                    delay = 0.05
                    async for message in ws:
                        frame = orjson.loads(message)
                        if isinstance(frame["type"], int):
                            self.wire.append(frame)
                        else:
                            self.controls.append(frame)
                    self.close_codes.append(ws.close_code)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                self.close_codes.append(code)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)


async def seed_unpaid_orders(
    database_url: str, *, shop_id: int, dish_id: int, customer_id: int, count: int
) -> list[tuple[int, str]]:
    """Put ``count`` unpaid orders straight into the database (setup only; paying goes over HTTP)."""
    db = Database(database_url)
    made: list[tuple[int, str]] = []
    try:
        async with db.transaction() as session:
            base = utcnow().strftime("%Y%m%d%H%M%S%f")
            for i in range(count):
                order = Order(
                    shop_id=shop_id,
                    number=f"T{base}{shop_id:04d}{i:05d}",
                    status=1,
                    pay_status=0,
                    user_id=customer_id,
                    address_book_id=0,
                    amount=Decimal("35.00"),
                    pack_amount=Decimal("1.00"),
                    delivery_fee=Decimal("6.00"),
                    phone="13900000000",
                    address="测试路 1 号",
                    consignee="李四",
                )
                session.add(order)
                await session.flush()
                session.add(
                    OrderDetail(
                        order_id=order.id,
                        name="宫保鸡丁",
                        dish_id=dish_id,
                        number=1,
                        amount=Decimal("28.00"),
                    )
                )
                made.append((order.id, order.number))
    finally:
        await db.dispose()
    return made
