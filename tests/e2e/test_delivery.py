"""Never lose an alert: resume, handled state, heartbeats, slow consoles, crashes.

Servers here are real processes, killed with real signals.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
import websockets
from sqlalchemy import func, select

from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow
from tests.support.consoles import ResumingConsole
from tests.support.frames import collect, silence
from tests.support.metrics import metric
from tests.support.orders import seed_unpaid_orders
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, new_shop, running_server


def customer_id(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["sub"])


async def pay_all(
    server: Server, token: str, numbers: list[str], *, concurrency: int = 8, on_paid: Any = None
) -> None:
    """Pay every order, retrying through server restarts (payment is idempotent)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            deadline = time.monotonic() + 60
            while True:
                try:
                    r = await client.put(
                        "/user/order/payment",
                        json={"orderNumber": number},
                        headers={"authentication": token},
                    )
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"could not pay {number}"
                await asyncio.sleep(0.05)
            if on_paid:
                await on_paid()

    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


async def test_consoles_see_every_alert_once_in_order_across_two_kills(tmp_path: Path) -> None:
    with running_server(tmp_path, relay_interval_seconds="0.5") as server:
        api = Api(server)
        try:
            shop_a, shop_b = (
                await new_shop(server.database_url),
                await new_shop(server.database_url),
            )
            token, _ = await api.new_customer()
            cid = customer_id(token)
            orders_a = await seed_unpaid_orders(
                server.database_url,
                shop_id=shop_a.shop_id,
                dish_id=shop_a.dish_ids[0],
                customer_id=cid,
                count=201,
            )
            orders_b = await seed_unpaid_orders(
                server.database_url,
                shop_id=shop_b.shop_id,
                dish_id=shop_b.dish_ids[0],
                customer_id=cid,
                count=21,
            )
            # The last order of each shop is paid once all others arrived: what
            # came before it, a repeat included, is in by the time it is.
            last_a, last_b = orders_a[-1][1], orders_b[-1][1]
            token_a = await api.merchant_token(shop_a.username)
            token_b = await api.merchant_token(shop_b.username)
            consoles_a = [ResumingConsole(server, token_a).start() for _ in range(3)]
            console_b = ResumingConsole(server, token_b).start()
            everyone = [*consoles_a, console_b]
            await wait_until(lambda: all(c.hellos for c in everyone), what="consoles registered")

            paid = 0
            kills = 0

            async def count_and_kill() -> None:
                nonlocal paid, kills
                paid += 1
                if paid in (60, 140):
                    kills += 1
                    server.stop(signal.SIGKILL)
                    server.start()

            numbers = [n for _, n in orders_a[:-1]] + [n for _, n in orders_b[:-1]]
            numbers.sort(key=lambda n: hash(n))  # interleave the two shops
            await pay_all(server, token, numbers, on_paid=count_and_kill)
            assert kills == 2
            for console in consoles_a:
                await console.wait_for(200)
            await console_b.wait_for(20)
            await pay_all(server, token, [last_a, last_b])
            for console in consoles_a:
                await console.wait_for(201)
            await console_b.wait_for(21)
            for console in everyone:
                await console.stop()

            for console in consoles_a:
                assert console.seqs == list(range(1, 202)), console.seqs[:30]
                assert {f["shopId"] for f in console.wire} == {shop_a.shop_id}
                assert sorted(f["orderId"] for f in console.wire) == sorted(i for i, _ in orders_a)
                assert console.connects >= 3, "each console reconnected after each kill"
            assert console_b.seqs == list(range(1, 22))
            assert {f["shopId"] for f in console_b.wire} == {shop_b.shop_id}

            db = Database(server.database_url)
            try:
                async with db.sessions() as session:
                    per_order = (
                        await session.execute(
                            select(AlertRow.order_id, func.count())
                            .where(
                                AlertRow.type == 1,
                                AlertRow.shop_id.in_([shop_a.shop_id, shop_b.shop_id]),
                            )
                            .group_by(AlertRow.order_id)
                        )
                    ).all()
            finally:
                await db.dispose()
            assert len(per_order) == 222
            assert all(n == 1 for _, n in per_order)
        finally:
            await api.aclose()


class RawConsole:
    """A console on a bare socket: it does the WebSocket handshake, then reads only when told.

    A library client keeps reading into its own buffers; this one really
    stops, so the server sees a console that cannot keep up.
    """

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buffer = b""

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_all(self, timeout: float) -> tuple[list[dict[str, Any]], int | None]:
        """Read frames until the server closes (returns its close code) or ``timeout`` passes."""
        self.sock.settimeout(timeout)
        frames: list[dict[str, Any]] = []
        try:
            while True:
                opcode, length = self._read(2)
                size = length & 0x7F
                if size == 126:
                    size = int.from_bytes(self._read(2), "big")
                elif size == 127:
                    size = int.from_bytes(self._read(8), "big")
                payload = self._read(size)
                if opcode & 0x0F == 0x8:
                    return frames, int.from_bytes(payload[:2], "big")
                if opcode & 0x0F == 0x1:
                    frames.append(orjson.loads(payload))
        except (TimeoutError, EOFError, OSError):
            return frames, None
        finally:
            self.sock.close()


async def test_a_stuck_console_delays_nobody_and_recovers_by_resuming(tmp_path: Path) -> None:
    with running_server(
        tmp_path,
        console_buffer_bytes="32768",
        socket_send_buffer_bytes="16384",
        heartbeat_seconds="300",
    ) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            token, _ = await api.new_customer()
            merchant = await api.merchant_token(kit.username)
            orders = await seed_unpaid_orders(
                server.database_url,
                shop_id=kit.shop_id,
                dish_id=kit.dish_ids[0],
                customer_id=customer_id(token),
                count=2000,
            )

            async def run(numbers: list[str], first_seq: int) -> float:
                consoles = [ResumingConsole(server, merchant, protocol=1) for _ in range(10)]
                for c in consoles:
                    c.wire.append({"seq": first_seq - 1})  # resume point: only this run's alerts
                    c.start()
                # Connected with since: an alert raised before the server registered
                # a console comes by replay, so connected is enough.
                await wait_until(lambda: all(c.connects for c in consoles), what="consoles")
                started = time.monotonic()
                await pay_all(server, token, numbers)
                for c in consoles:
                    await c.wait_for(1001, within=60)
                elapsed = time.monotonic() - started
                for c in consoles:
                    await c.stop()
                    assert [f["seq"] for f in c.wire[1:]] == list(
                        range(first_seq, first_seq + 1000)
                    )
                return elapsed

            baseline = await run([n for _, n in orders[:1000]], 1)
            path = server.ws_url(merchant, since="1000").split(str(server.port), 1)[1]
            stuck = RawConsole(server.port, path)
            cut_offs = metric(
                (await api.http.get("/metrics")).text, "orderbell_slow_console_disconnects_total"
            )

            async def wake_when_cut_off() -> tuple[list[dict[str, Any]], int | None]:
                # The stuck console reads again once the server has cut it
                # off, as a tablet waking up would: the server waits only so
                # long for its closing handshake, however slow the rest of
                # the run is on a busy machine.
                async def cut_off() -> bool:
                    text = (await api.http.get("/metrics")).text
                    return metric(text, "orderbell_slow_console_disconnects_total") > cut_offs

                await wait_until(cut_off, 60, interval=0.2, what="the stuck console to be cut off")
                return await asyncio.to_thread(stuck.read_all, 10)

            woken = asyncio.create_task(wake_when_cut_off())
            with_stuck = await run([n for _, n in orders[1000:]], 1001)
            print(
                f"\n1000 alerts to 10 consoles: {baseline:.2f}s alone, {with_stuck:.2f}s beside a stuck console"
            )
            # A generous budget: a stuck console that held the others up would
            # make them wait for its cut-off, many times the baseline.
            assert with_stuck < baseline * 4 + 5

            # The stuck console reads again: what was in flight, then the cut-off.
            received, code = await woken
            seqs = [f["seq"] for f in received]
            assert code == 4408, f"expected a cut-off (4408), got {code} after {len(seqs)} frames"
            assert len(seqs) < 1000, "it was cut off before the end"
            assert seqs == list(range(1001, 1001 + len(seqs)))
            print(f"stuck console: cut off after {len(seqs)} alerts, then resumed")
            last = seqs[-1] if seqs else 1000
            async with websockets.connect(server.ws_url(merchant, since=str(last))) as ws:
                rest = await collect(ws, 2000 - last, within=30)
            assert seqs + [f["seq"] for f in rest] == list(range(1001, 2001))
        finally:
            await api.aclose()


LISTENER = """
import sys, websocket
from websocket import ABNF
ws = websocket.create_connection(sys.argv[1], timeout=60)
print(ws.sock.getsockname()[1], flush=True)
while True:
    opcode, frame = ws.recv_data_frame(control_frame=True)
    if opcode == ABNF.OPCODE_PING:
        ws.pong(frame.data)
        print("ping", flush=True)
"""


def tcp_state(local_port: int) -> str | None:
    """The kernel's TCP state of the loopback connection whose local port is ``local_port``."""
    states = {"01": "ESTABLISHED", "08": "CLOSE_WAIT", "06": "TIME_WAIT", "07": "CLOSE"}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == local_port:
            return states.get(fields[3], fields[3])
    return None


async def test_a_console_whose_peer_vanished_is_dropped_within_the_heartbeat_timeout(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, heartbeat_seconds="1", heartbeat_timeout_seconds="2") as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            listener = subprocess.Popen(
                [sys.executable, "-c", LISTENER, server.ws_url(merchant)],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert listener.stdout is not None
                port = int(await asyncio.to_thread(listener.stdout.readline))
                # Three pings answered: longer than the timeout (2 s) with a ping a second.
                for _ in range(3):
                    assert await asyncio.to_thread(listener.stdout.readline) == "ping\n"
                assert tcp_state(port) == "ESTABLISHED", "a live console that answers pings stays"
                os.kill(listener.pid, signal.SIGSTOP)
                stopped = time.monotonic()
                await wait_until(
                    lambda: tcp_state(port) != "ESTABLISHED", 30, interval=0.1, what="the drop"
                )
                gone_after = time.monotonic() - stopped
                print(
                    f"\nstopped console dropped after {gone_after:.1f}s (interval 1s + timeout 2s)"
                )
                assert tcp_state(port) in ("CLOSE_WAIT", None), "the server closed its side"
                # Interval 1 s + timeout 2 s, plus generous slack for a busy machine.
                assert gone_after < 20
            finally:
                os.kill(listener.pid, signal.SIGCONT)
                listener.kill()
                listener.wait()
                if listener.stdout is not None:
                    listener.stdout.close()
        finally:
            await api.aclose()


async def test_a_reminder_answered_on_one_console_is_handled_on_all(
    server: Server, api: Api
) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    async with (
        websockets.connect(server.ws_url(merchant, protocol="2")) as c1,
        websockets.connect(server.ws_url(merchant, protocol="2")) as c2,
        websockets.connect(server.ws_url(merchant)) as plain,
    ):
        for ws in (c1, c2):
            assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
        order = await api.place_order(customer, address, [kit.dish_ids[0]])
        await api.pay(customer, order["orderNumber"])
        await api.ok("GET", f"/user/order/reminder/{order['id']}", token=customer)
        for ws in (c1, c2, plain):
            assert [f["type"] for f in await collect(ws, 2)] == [1, 2]
        unhandled = await api.ok("GET", "/admin/alert/unhandled", token=merchant, header="token")
        assert [(a["seq"], a["type"]) for a in unhandled] == [(1, 1), (2, 2)]

        await api.ok(
            "PUT",
            "/admin/alert/reply",
            token=merchant,
            header="token",
            json={"orderId": order["id"], "reply": "cooking"},
        )
        for ws in (c1, c2):
            [handled] = await collect(ws, 1)
            assert handled["type"] == "handled"
            assert (handled["alertSeq"], handled["alertType"], handled["action"]) == (2, 2, "reply")
            assert handled["reply"] == "正在加急制作中"
            assert handled["by"]["id"] is not None
        assert await silence(plain, 0.3) == [], "plain consoles get alert frames only"

        detail = await api.ok("GET", f"/user/order/orderDetail/{order['id']}", token=customer)
        assert detail["reminderReply"] == "正在加急制作中"

        await api.ok(
            "PUT", "/admin/order/confirm", token=merchant, header="token", json={"id": order["id"]}
        )
        for ws in (c1, c2):
            [handled] = await collect(ws, 1)
            assert (handled["alertSeq"], handled["action"]) == (1, "confirm")
        assert await api.ok("GET", "/admin/alert/unhandled", token=merchant, header="token") == []

    again = await api.call(
        "PUT",
        "/admin/alert/reply",
        token=merchant,
        header="token",
        json={"orderId": order["id"], "reply": "cooking"},
    )
    assert again.status_code == 400 and "no open reminder" in again.json()["msg"]
    too_long = await api.call(
        "PUT",
        "/admin/alert/reply",
        token=merchant,
        header="token",
        json={"orderId": order["id"], "reply": "custom", "text": "慢" * 31},
    )
    assert too_long.status_code == 422


async def test_resume_replays_what_was_missed_then_goes_live(server: Server, api: Api) -> None:
    kit = await new_shop(server.database_url)
    merchant = await api.merchant_token(kit.username)
    customer, address = await api.new_customer()
    numbers = []
    for _ in range(4):
        numbers.append((await api.place_order(customer, address, [kit.dish_ids[0]]))["orderNumber"])
    for n in numbers[:3]:
        await api.pay(customer, n)
    async with websockets.connect(server.ws_url(merchant, since="1", protocol="2")) as ws:
        frames = await collect(ws, 4)
        assert [f["type"] for f in frames] == ["hello", 1, 1, "synced"]
        assert frames[0]["latestSeq"] == 3
        assert [f["seq"] for f in frames[1:3]] == [2, 3]
        assert frames[3]["replayed"] == 2 and frames[3]["unhandled"] == [1, 2, 3]
        await api.pay(customer, numbers[3])
        [live] = await collect(ws, 1)
        assert live["seq"] == 4
    # A plain console may resume too; it gets alert frames only.
    async with websockets.connect(server.ws_url(merchant, since="2")) as ws:
        assert [f["seq"] for f in await collect(ws, 2)] == [3, 4]
        assert await silence(ws, 0.3) == []


async def test_resume_beyond_retention_or_ahead_of_the_log_is_told_to_reset(tmp_path: Path) -> None:
    with running_server(tmp_path, replay_max_alerts="3") as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            customer, address = await api.new_customer()
            for _ in range(6):
                await api.pay(
                    customer,
                    (await api.place_order(customer, address, [kit.dish_ids[0]]))["orderNumber"],
                )
            async with websockets.connect(server.ws_url(merchant, since="1", protocol="2")) as ws:
                frames = await collect(ws, 6)
            assert [f["type"] for f in frames] == ["hello", "reset", 1, 1, 1, "synced"]
            assert (frames[1]["oldestSeq"], frames[1]["latestSeq"]) == (4, 6)
            assert [f["seq"] for f in frames[2:5]] == [4, 5, 6]

            async with websockets.connect(server.ws_url(merchant, since="99", protocol="2")) as ws:
                frames = await collect(ws, 6)
            assert frames[1]["type"] == "reset" and frames[1]["reason"] == "ahead of the log"
            assert [f["seq"] for f in frames[2:5]] == [4, 5, 6]
            await api.pay(
                customer,
                (await api.place_order(customer, address, [kit.dish_ids[0]]))["orderNumber"],
            )

            async with websockets.connect(server.ws_url(merchant, since="5", protocol="2")) as ws:
                frames = await collect(ws, 5)
            assert [f["type"] for f in frames] == ["hello", 1, 1, "synced"], (
                "within retention: no reset"
            )

            async with websockets.connect(server.ws_url(merchant, since="abc")) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
        finally:
            await api.aclose()


async def test_protocol_2_gets_heartbeats_and_the_subprotocol_works(tmp_path: Path) -> None:
    with running_server(tmp_path, heartbeat_seconds="0.3") as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            async with websockets.connect(
                server.ws_url(merchant), subprotocols=["orderbell.v2"]
            ) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == "orderbell.v2"
                frames = await collect(ws, 4, within=3)
            assert [f["type"] for f in frames] == ["hello", "synced", "ping", "ping"]
            assert frames[0]["heartbeat"] == 0.3
        finally:
            await api.aclose()


async def test_an_alert_committed_but_never_published_is_relayed(tmp_path: Path) -> None:
    with running_server(tmp_path, relay_interval_seconds="0.5") as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            customer, address = await api.new_customer()
            order = await api.place_order(customer, address, [kit.dish_ids[0]])
            async with websockets.connect(server.ws_url(merchant, protocol="2")) as ws:
                # Registered and caught up: the relay's alert can only come live.
                assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
                # What a process that died right after commit leaves behind:
                # the order paid and its alert in the log, never published.
                from orderbell.domain.alerts import AlertType
                from orderbell.storage import alert_log
                from orderbell.storage.tables import Order

                db = Database(server.database_url)
                try:
                    async with db.transaction() as session:
                        row = await session.get(Order, order["id"])
                        assert row is not None
                        row.status, row.pay_status = 2, 1
                        await alert_log.append(
                            session,
                            shop_id=kit.shop_id,
                            type=AlertType.NEW_ORDER,
                            order_id=order["id"],
                            order_number=order["orderNumber"],
                        )
                finally:
                    await db.dispose()
                [alert] = await collect(ws, 1, within=10)
            assert (alert["seq"], alert["orderId"]) == (1, order["id"])
            db = Database(server.database_url)
            try:
                async with db.sessions() as session:
                    published = await session.scalar(
                        select(AlertRow.published_at).where(AlertRow.shop_id == kit.shop_id)
                    )
            finally:
                await db.dispose()
            assert published is not None, "the relay marked it published"
        finally:
            await api.aclose()
