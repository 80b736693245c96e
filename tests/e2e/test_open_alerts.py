"""Every open alert reaches a console, however many there are; a console that
connects without ``since`` reads no alert row to learn the latest seq."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import uvicorn
import websockets
from sqlalchemy import event

from orderbell.bootstrap import create_app
from orderbell.domain.alerts import AlertType
from orderbell.protocol import MAX_CONSOLE_MESSAGE
from orderbell.settings import Settings
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, Order, utcnow
from orderbell.web.ws_protocol import ConsoleWebSocketProtocol
from tests.e2e.server import Api, Server, free_port, migrate, new_shop


async def a_customer(api: Api) -> int:
    """The id of a fresh customer, whom the seeded orders belong to."""
    token, _ = await api.new_customer()
    return int((await api.ok("GET", "/user/addressBook/default", token=token))["userId"])


async def seed_open_alerts(
    database_url: str, shop_id: int, customer_id: int, count: int
) -> list[int]:
    """``count`` paid orders of the shop, each with its new-order alert open, written
    through the alert log straight into the database (setup only: paying 800 orders
    over HTTP would be slow). Marked published, so no relay sends them again."""
    db = Database(database_url)
    seqs: list[int] = []
    try:
        async with db.transaction() as session:
            first = (await alert_log.latest_seq(session, shop_id)) + 1
            for i in range(count):
                number = f"O{shop_id:04d}{first + i:08d}"
                order = Order(
                    shop_id=shop_id,
                    number=number,
                    status=2,
                    pay_status=1,
                    user_id=customer_id,
                    address_book_id=0,
                    checkout_time=utcnow(),
                    amount=Decimal("35.00"),
                    pack_amount=Decimal("1.00"),
                    delivery_fee=Decimal("6.00"),
                    phone="13900000000",
                    address="测试路 1 号",
                    consignee="李四",
                )
                session.add(order)
                await session.flush()
                alert = await alert_log.append(
                    session,
                    shop_id=shop_id,
                    type=AlertType.NEW_ORDER,
                    order_id=order.id,
                    order_number=number,
                )
                seqs.append(alert.seq)
            await alert_log.mark_published(session, [(shop_id, s) for s in seqs])
    finally:
        await db.dispose()
    return seqs


async def synced_of(
    url: str, *, alerts: int = 0, within: float = 30
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], int]:
    """Connect, read up to ``synced``: (hello, replayed alert frames, synced, synced's size)."""
    async with websockets.connect(url, open_timeout=10) as ws:
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), within))
        replayed: list[dict[str, Any]] = []
        while True:
            raw = await asyncio.wait_for(ws.recv(), within)
            frame = orjson.loads(raw)
            if frame["type"] == "synced":
                return hello, replayed, frame, len(raw)
            replayed.append(frame)


async def test_every_open_alert_reaches_the_api_and_a_reconnecting_console(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    token = await api.merchant_token(kit.username)
    # A console that was connected before the rush, and saw none of it yet.
    hello, _, synced, _ = await synced_of(server.ws_url(token, protocol="2"))
    assert (hello["latestSeq"], synced["unhandled"]) == (0, [])

    seqs = await seed_open_alerts(server.database_url, kit.shop_id, await a_customer(api), 800)
    assert seqs == list(range(1, 801))

    listed = await api.ok("GET", "/admin/alert/unhandled", token=token, header="token")
    assert [a["seq"] for a in listed] == seqs, "oldest first, and every one of them"
    assert listed[-1]["orderNumber"] == f"O{kit.shop_id:04d}{800:08d}"

    # It reconnects having seen nothing: everything is replayed, and all are open.
    hello, replayed, synced, _ = await synced_of(server.ws_url(token, protocol="2", since="0"))
    assert hello["latestSeq"] == 800
    assert [f["seq"] for f in replayed] == seqs
    assert synced["unhandled"] == seqs and synced["latestSeq"] == 800

    # It reconnects after the last one: nothing to replay, still all 800 open.
    _, replayed, synced, _ = await synced_of(server.ws_url(token, protocol="2", since="800"))
    assert replayed == [] and synced["replayed"] == 0
    assert synced["unhandled"] == seqs

    # The shop accepts the newest order: it leaves the list, the rest stay.
    newest = listed[-1]["orderId"]
    await api.ok("PUT", "/admin/order/confirm", token=token, header="token", json={"id": newest})
    _, _, synced, _ = await synced_of(server.ws_url(token, protocol="2", since="800"))
    assert synced["unhandled"] == seqs[:-1]
    listed = await api.ok("GET", "/admin/alert/unhandled", token=token, header="token")
    assert [a["seq"] for a in listed] == seqs[:-1]


async def test_two_thousand_open_alerts_fit_one_frame_and_one_answer(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    token = await api.merchant_token(kit.username)
    seqs = await seed_open_alerts(server.database_url, kit.shop_id, await a_customer(api), 2000)
    _, _, synced, size = await synced_of(server.ws_url(token, protocol="2"))
    assert synced["unhandled"] == seqs
    # Far below what WebSocket clients accept in one message (1 MiB by
    # default in the Python SDK's library): seqs only, a few bytes each.
    assert size < 32 * 1024, size
    response = await api.call("GET", "/admin/alert/unhandled", token=token, header="token")
    assert response.status_code == 200
    assert [a["seq"] for a in response.json()["data"]] == seqs
    assert len(response.content) < 1024 * 1024, len(response.content)


@contextlib.asynccontextmanager
async def in_process_server(tmp_path: Path) -> AsyncIterator[tuple[Server, Database]]:
    """orderbell under uvicorn on a free loopback port, in this process, so that
    its database reads can be watched; yields it and the app's own database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'orderbell.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERBELL_")}
    migrate({**env, "ORDERBELL_DATABASE_URL": url})
    port = free_port()
    settings = Settings(
        database_url=url,
        port=port,
        log_level="warning",
        scheduled_tasks=False,
        relay_interval_seconds=3600,
    )
    app = create_app(settings)
    # The served app as `orderbell serve` runs it, but leaving this process's logging alone.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        ws=ConsoleWebSocketProtocol,
        ws_per_message_deflate=False,
        ws_max_size=MAX_CONSOLE_MESSAGE,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield Server(port, url, tmp_path / "server.log", {}), app.state.orderbell.database
    finally:
        server.should_exit = True
        await task
        # The app's start froze every object of this process out of the collector.
        gc.unfreeze()


async def test_a_console_without_since_reads_no_alert_row(tmp_path: Path) -> None:
    async with in_process_server(tmp_path) as (server, database):
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            token = await api.merchant_token(kit.username)
            # More than a resuming console is replayed (1,000), two of them still open.
            seqs = await seed_open_alerts(
                server.database_url, kit.shop_id, await a_customer(api), 1200
            )
            async with database.transaction() as session:
                for seq in seqs:
                    if seq not in (7, 1200):
                        await alert_log.mark_handled(
                            session, shop_id=kit.shop_id, action="confirm", by=None, seq=seq
                        )

            loaded: list[int] = []
            statements: list[str] = []

            def on_load(row: AlertRow, _context: Any) -> None:
                loaded.append(row.seq)

            def on_execute(*args: Any) -> None:
                statements.append(str(args[2]))

            engine = database.engine.sync_engine
            event.listen(AlertRow, "load", on_load)
            event.listen(engine, "before_cursor_execute", on_execute)
            try:
                hello, replayed, synced, _ = await synced_of(server.ws_url(token, protocol="2"))
                fresh_loads, fresh_statements = list(loaded), list(statements)
                # The counting works: a console resuming from 1,100 reads its 100 rows.
                _, resumed, _, _ = await synced_of(server.ws_url(token, protocol="2", since="1100"))
            finally:
                event.remove(AlertRow, "load", on_load)
                event.remove(engine, "before_cursor_execute", on_execute)
        finally:
            await api.aclose()

    assert hello["latestSeq"] == 1200 and synced["latestSeq"] == 1200
    assert replayed == [] and synced["unhandled"] == [7, 1200]
    assert fresh_loads == [], f"{len(fresh_loads)} alert rows read by a fresh console"
    # What it did read of the alert table: the seqs of the open ones, nothing else.
    # (The push sweep's look for alerts nobody has seen runs in the background
    # meanwhile; it is not the console's.)
    of_alerts = [s for s in fresh_statements if "FROM alert" in s and "pushed_at" not in s]
    assert len(of_alerts) == 1 and "handled_at IS NULL" in of_alerts[0], fresh_statements
    assert "alert.content" not in of_alerts[0]
    assert [f["seq"] for f in resumed] == list(range(1101, 1201))
    assert len(loaded) >= 100
