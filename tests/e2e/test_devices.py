"""A shop's devices on a real server: listed, reporting their status, leaving, vanishing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import websockets

from orderbell.client import ConsoleClient, Status
from orderbell.client import Presence as PresenceEvent
from tests.e2e.test_delivery import LISTENER
from tests.e2e.test_rfc6455 import plain_uvicorn
from tests.support.frames import collect
from tests.support.polling import wait_until
from tests.support.servers import PASSWORD, Api, new_shop, running_server
from tests.support.terminal import read_lines, start_listen

HEARTBEAT_TIMEOUT = 2.0


async def devices(api: Api, token: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = await api.ok(
        "GET", "/admin/shop/devices", token=token, header="token"
    )
    return listed


def by_id(listed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["deviceId"]: d for d in listed}


async def next_presence(
    ws: Any, want: set[str], *, sound: bool | None = None, visible: bool | None = None
) -> dict[str, Any]:
    """The first ``presence`` frame that lists exactly the devices ``want`` (whose
    first device reports ``sound`` and ``visible``, when given)."""
    while True:
        [frame] = await collect(ws, 1, presence=True)
        if frame.get("type") != "presence":
            continue
        if {d["deviceId"] for d in frame["devices"]} != want:
            continue
        first = frame["devices"][0] if frame["devices"] else {}
        if sound is not None and first.get("sound") is not sound:
            continue
        if visible is None or first.get("visible") is visible:
            return frame


async def test_devices_are_listed_report_status_leave_and_vanish_with_their_process(
    tmp_path: Path,
) -> None:
    with running_server(
        tmp_path,
        heartbeat_seconds="1",
        heartbeat_timeout_seconds=str(HEARTBEAT_TIMEOUT),
        presence_debounce_seconds="0.2",
    ) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            token = await api.merchant_token(kit.username)
            front_url = server.ws_url(
                token, "tab-1", protocol="2", deviceId=quote("前台电脑"), kind="browser"
            )
            async with (
                websockets.connect(front_url) as front,
                websockets.connect(server.ws_url(token, "sdk-7", protocol="2")) as other,
            ):
                assert [f["type"] for f in await collect(front, 2)] == ["hello", "synced"]
                assert [f["type"] for f in await collect(other, 2)] == ["hello", "synced"]
                listed = await wait_until(
                    lambda: _with(api, token, {"前台电脑", "sdk-7"}), what="both devices"
                )
                front_device, other_device = listed["前台电脑"], listed["sdk-7"]
                assert front_device["kind"] == "browser"
                # No kind given: a console on the original endpoint is a browser page.
                assert other_device["kind"] == "browser"
                assert front_device["merchant"]["name"] == kit.username
                assert front_device["merchant"] == other_device["merchant"]
                assert front_device["connectedAt"].endswith("Z")
                assert front_device["sound"] is None and front_device["appVersion"] is None

                # A bad value refuses the frame and keeps the console; a good one is shown.
                await front.send(orjson.dumps({"type": "status", "volume": 7}).decode())
                await front.send(
                    orjson.dumps(
                        {
                            "type": "status",
                            "sound": True,
                            "visible": False,
                            "notifications": "granted",
                            "volume": 0.5,
                            "appVersion": "2.1.0",
                            "battery": "ignored",
                        }
                    ).decode()
                )
                shown = await wait_until(
                    lambda: _status_of(api, token, "前台电脑"), what="the reported status"
                )
                assert shown == {
                    "sound": True,
                    "visible": False,
                    "notifications": "granted",
                    "volume": 0.5,
                    "appVersion": "2.1.0",
                }

                await other.close()
                # Earlier frames listed the front console alone too, before it had a status.
                frame = await asyncio.wait_for(next_presence(front, {"前台电脑"}, sound=True), 15)
                assert frame["shopId"] == kit.shop_id and frame["online"] == 1
                assert set(by_id(await devices(api, token))) == {"前台电脑"}

                # A console in a process killed without a goodbye.
                killed = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        LISTENER,
                        server.ws_url(token, "doomed", protocol="2", kind="listener"),
                    ],
                    stdout=subprocess.DEVNULL,
                )
                try:
                    await wait_until(
                        lambda: _with(api, token, {"前台电脑", "doomed"}), what="the listener"
                    )
                    assert (await _with(api, token, {"前台电脑", "doomed"}))["doomed"][
                        "kind"
                    ] == "listener"
                    os.kill(killed.pid, signal.SIGKILL)
                    killed_at = time.monotonic()
                    await wait_until(
                        lambda: _with(api, token, {"前台电脑"}), what="the killed console gone"
                    )
                    assert time.monotonic() - killed_at <= 2 * HEARTBEAT_TIMEOUT
                    await asyncio.wait_for(next_presence(front, {"前台电脑"}), 15)
                finally:
                    killed.kill()
                    killed.wait()
        finally:
            await api.aclose()


async def _with(api: Api, token: str, ids: set[str]) -> dict[str, dict[str, Any]] | None:
    listed = by_id(await devices(api, token))
    return listed if set(listed) == ids else None


async def _none_left(api: Api, token: str) -> bool:
    return await devices(api, token) == []


async def _status_of(api: Api, token: str, device_id: str) -> dict[str, Any] | None:
    device = by_id(await devices(api, token)).get(device_id)
    if device is None or device["sound"] is None:
        return None
    return {k: device[k] for k in ("sound", "visible", "notifications", "volume", "appVersion")}


async def test_a_bad_kind_or_device_id_is_refused_with_4400(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            token = await api.merchant_token(kit.username)
            for params in ({"kind": "toaster"}, {"deviceId": "x" * 65}):
                async with websockets.connect(server.ws_url(token, "c", **params)) as ws:
                    await ws.wait_closed()
                    assert ws.close_code == 4400
            assert await devices(api, token) == []
        finally:
            await api.aclose()


async def test_orderbell_listen_prints_devices_coming_and_going(tmp_path: Path) -> None:
    with running_server(tmp_path, presence_debounce_seconds="0.2") as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            token = await api.merchant_token(kit.username)
            listener = start_listen(server, kit.username, tmp_path / "listen.seq")
            out: list[str] = []
            assert listener.stdout is not None and listener.stderr is not None
            reader = asyncio.create_task(read_lines(listener.stdout, out, presence=True))
            try:

                def kinds() -> list[list[tuple[str, str]]]:
                    return [
                        sorted((d["deviceId"], d["kind"]) for d in orjson.loads(line)["devices"])
                        for line in out
                    ]

                await wait_until(lambda: len(out) == 1, what="the listener's own device")
                [[(own, kind)]] = kinds()
                assert kind == "listener"
                async with websockets.connect(
                    server.ws_url(token, "tab", protocol="2", deviceId="front", kind="browser")
                ):
                    await wait_until(lambda: len(out) == 2, what="a line for the second console")
                await wait_until(lambda: len(out) == 3, what="a line for it leaving")
                assert kinds() == [
                    [(own, "listener")],
                    sorted([("front", "browser"), (own, "listener")]),
                    [(own, "listener")],
                ]
                assert [orjson.loads(line)["online"] for line in out] == [1, 2, 1]
            finally:
                listener.terminate()
                listener.wait(10)
                reader.cancel()
                listener.stdout.close()
                listener.stderr.close()
        finally:
            await api.aclose()


async def test_the_sdk_is_an_sdk_device_that_reports_its_status_and_sees_presence(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, presence_debounce_seconds="0.2") as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            token = await api.merchant_token(kit.username)
            client = ConsoleClient(server.base_url, kit.username, PASSWORD, device_id="kitchen-pi")
            events = client.events()
            try:
                assert isinstance(await anext(events), Status)
                await client.report_status(sound=False, volume=0.3, app_version="sdk-test")
                shown = await wait_until(
                    lambda: _status_of(api, token, "kitchen-pi"), what="the SDK's status"
                )
                assert (shown["sound"], shown["volume"], shown["appVersion"]) == (
                    False,
                    0.3,
                    "sdk-test",
                )
                assert by_id(await devices(api, token))["kitchen-pi"]["kind"] == "sdk"
                async with websockets.connect(server.ws_url(token, "other", protocol="2")):
                    while True:
                        event = await asyncio.wait_for(anext(events), 15)
                        if isinstance(event, PresenceEvent) and event.online == 2:
                            break
                    assert {d["deviceId"] for d in event.devices} == {"kitchen-pi", "other"}
            finally:
                await events.aclose()
                await client.aclose()
        finally:
            await api.aclose()


async def test_under_a_plain_asgi_server_the_endpoint_passes_status_frames_on(
    tmp_path: Path,
) -> None:
    # No hand-off here: the ASGI endpoint's own receive loop reads the frames.
    with running_server(
        tmp_path, command=plain_uvicorn(), presence_debounce_seconds="0.2"
    ) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            token = await api.merchant_token(kit.username)
            async with websockets.connect(
                server.ws_url(token, "asgi", protocol="2", kind="sdk")
            ) as ws:
                assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
                await ws.send('{"type": "status", "visible": "no"}')
                await ws.send('{"type": "status", "visible": true, "notifications": "default"}')
                frame = await asyncio.wait_for(next_presence(ws, {"asgi"}, visible=True), 15)
                assert frame["devices"][0]["notifications"] == "default"
                assert frame["devices"][0]["kind"] == "sdk"
                metrics = (await api.http.get("/metrics")).text
                assert "orderbell_consoles_live 0.0" in metrics
            await wait_until(lambda: _none_left(api, token), what="the console gone")
        finally:
            await api.aclose()
