"""The SDK and the terminal listener against a real server that restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from orderbell.client import (
    Alert,
    BlockingConsoleClient,
    ConsoleClient,
    Handled,
    LoginFailed,
    ServerUnreachable,
    Status,
)
from tests.support.polling import wait_until
from tests.support.servers import PASSWORD, Api, free_port, new_shop, running_server
from tests.support.terminal import read_lines, start_listen


async def consume(client: ConsoleClient, into: list[Any]) -> None:
    async for event in client.events():
        into.append(event)


def alerts(events: list[Any]) -> list[Alert]:
    return [e for e in events if isinstance(e, Alert)]


async def test_sdk_receives_confirms_and_survives_restarts_without_loss_or_repeats(
    tmp_path: Path,
) -> None:
    state = tmp_path / "console.seq"
    with running_server(tmp_path) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            customer, address = await api.new_customer()

            async def paid_order() -> int:
                order = await api.place_order(customer, address, [kit.dish_ids[0]])
                await api.pay(customer, order["orderNumber"])
                return int(order["id"])

            events: list[Any] = []
            client = ConsoleClient(
                server.base_url, kit.username, PASSWORD, state_file=state, backoff_max=0.5
            )
            await client.login()
            task = asyncio.create_task(consume(client, events))
            await wait_until(lambda: any(isinstance(e, Status) for e in events))
            first = await paid_order()
            await wait_until(lambda: len(alerts(events)) == 1)
            await client.confirm(first)
            await wait_until(lambda: any(isinstance(e, Handled) for e in events))
            assert (await client.order(first))["status"] == 3

            server.stop(signal.SIGKILL)
            await wait_until(
                lambda: any(isinstance(e, Status) and e.state == "reconnecting" for e in events)
            )
            server.start()
            await paid_order()
            await wait_until(lambda: len(alerts(events)) == 2)
            task.cancel()
            await client.aclose()
            assert state.read_text() == "2"

            # The program is stopped; alerts raised meanwhile are picked up by the next run.
            await paid_order()
            await paid_order()
            later: list[Any] = []
            client = ConsoleClient(server.base_url, kit.username, PASSWORD, state_file=state)
            await client.login()
            task = asyncio.create_task(consume(client, later))
            await wait_until(lambda: len(alerts(later)) == 2)
            # One more alert, raised now: all that came before it has arrived
            # by the time it does, a repeat included.
            await paid_order()
            await wait_until(lambda: any(a.seq == 5 for a in alerts(later)))
            task.cancel()
            await client.aclose()
            seqs = [a.seq for a in alerts(events)] + [a.seq for a in alerts(later)]
            assert seqs == [1, 2, 3, 4, 5]
        finally:
            await api.aclose()


async def test_sdk_reports_a_wrong_password_and_an_unreachable_server(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        kit = await new_shop(server.database_url)
        client = ConsoleClient(server.base_url, kit.username, "wrong-password")
        try:
            with pytest.raises(LoginFailed):
                await client.login()
        finally:
            await client.aclose()
    nobody = ConsoleClient(f"http://127.0.0.1:{free_port()}", "demo", "x")
    try:
        with pytest.raises(ServerUnreachable):
            await nobody.login()
    finally:
        await nobody.aclose()


def test_blocking_client_receives_and_confirms(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:

        async def setup() -> tuple[Any, str, int]:
            api = Api(server)
            try:
                kit = await new_shop(server.database_url)
                customer, address = await api.new_customer()
                order = await api.place_order(customer, address, [kit.dish_ids[0]])
                return kit, customer, int(order["id"]), order["orderNumber"]  # type: ignore[return-value]
            finally:
                await api.aclose()

        kit, customer, order_id, number = asyncio.run(setup())

        async def pay() -> None:
            api = Api(server)
            try:
                await api.pay(customer, number)
            finally:
                await api.aclose()

        with BlockingConsoleClient(server.base_url, kit.username, PASSWORD) as console:
            received: list[Alert] = []
            for event in console.events(timeout=30):
                if isinstance(event, Status) and event.state == "connected":
                    # Paid once the server has the console: the alert reaches it live.
                    threading.Thread(target=asyncio.run, args=(pay(),)).start()
                elif isinstance(event, Alert):
                    received.append(event)
                    break
            assert [(a.type, a.order_id) for a in received] == [(1, order_id)]
            console.confirm(order_id)
            assert console.order(order_id)["status"] == 3


async def test_the_terminal_listener_shows_alerts_across_a_restart(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            customer, address = await api.new_customer()
            env = dict(os.environ, ORDERBELL_PASSWORD=PASSWORD)
            listener = start_listen(server, kit.username, tmp_path / "listen.seq")
            raw: list[str] = []
            assert listener.stdout is not None and listener.stderr is not None
            reader = asyncio.create_task(read_lines(listener.stdout, raw))
            try:
                assert "connected" in await asyncio.to_thread(listener.stderr.readline)
                order = await api.place_order(
                    customer, address, [kit.dish_ids[0], kit.dish_ids[1]], remark="少辣"
                )
                await api.pay(customer, order["orderNumber"])
                await wait_until(lambda: len(raw) == 1)
                server.stop()
                server.start()
                second = await api.place_order(customer, address, [kit.dish_ids[0]])
                await api.pay(customer, second["orderNumber"])
                await api.ok("GET", f"/user/order/reminder/{second['id']}", token=customer)
                await wait_until(lambda: len(raw) == 3)
            finally:
                listener.terminate()
                listener.wait(10)
                reader.cancel()
                listener.stdout.close()
                listener.stderr.close()
            lines = [orjson.loads(line) for line in raw]
            assert [(x["event"], x["seq"], x["type"]) for x in lines] == [
                ("alert", 1, 1),
                ("alert", 2, 1),
                ("alert", 3, 2),
            ]

            # The same shop acts from the command line: accept, then answer the reminder.
            def cli(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "orderbell",
                        "order",
                        *args,
                        "--url",
                        server.base_url,
                        "--user",
                        kit.username,
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    stdin=subprocess.DEVNULL,
                )

            confirmed = await asyncio.to_thread(cli, "confirm", str(second["id"]))
            assert confirmed.returncode == 0, confirmed.stderr
            replied = await asyncio.to_thread(cli, "reply", str(second["id"]), "--reply", "cooking")
            assert replied.returncode == 0 and "正在加急制作中" in replied.stdout
            twice = await asyncio.to_thread(cli, "confirm", str(second["id"]))
            assert twice.returncode == 1 and "accepted by the shop" in twice.stderr
            detail = await api.ok("GET", f"/user/order/orderDetail/{second['id']}", token=customer)
            assert (detail["status"], detail["reminderReply"]) == (3, "正在加急制作中")
            assert lines[0]["orderId"] == order["id"]
            assert lines[0]["order"]["remark"] == "少辣"
            assert [d["name"] for d in lines[0]["order"]["orderDetailList"]] == ["宫保鸡丁", "米饭"]
        finally:
            await api.aclose()


def test_the_terminal_listener_exits_clearly_on_bad_login_or_no_server(tmp_path: Path) -> None:
    env = dict(os.environ, ORDERBELL_PASSWORD="wrong-password")
    with running_server(tmp_path) as server:
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "orderbell",
                "listen",
                "--url",
                server.base_url,
                "--user",
                "nobody",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    assert bad.returncode == 2 and "login refused" in bad.stderr
    gone = subprocess.run(
        [
            sys.executable,
            "-m",
            "orderbell",
            "listen",
            "--url",
            f"http://127.0.0.1:{free_port()}",
            "--user",
            "x",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert gone.returncode == 3 and "cannot reach" in gone.stderr
