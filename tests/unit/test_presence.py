"""Presence's pure parts: status frames, the device JSON, merging, debouncing, and
the announcements of an in-process presence."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import orjson
import pytest

from orderbell.broker.memory import MemoryBroker
from orderbell.client.events import Presence as PresenceEvent
from orderbell.client.terminal import Listener, describe_devices
from orderbell.delivery.presence.registry import (
    Attendance,
    Debounce,
    Device,
    Presence,
    check_device_id,
    check_kind,
    merge_devices,
    parse_status,
)
from tests.support.clocks import Clock


def test_a_status_frame_takes_known_fields_and_ignores_the_rest() -> None:
    frame = {
        "type": "status",
        "sound": False,
        "visible": True,
        "notifications": "denied",
        "volume": 1,
        "appVersion": "3.0",
        "extra": [1, 2],
    }
    assert parse_status(frame) == {
        "sound": False,
        "visible": True,
        "notifications": "denied",
        "volume": 1.0,
        "appVersion": "3.0",
    }
    assert parse_status({"type": "status"}) == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sound", 1),
        ("visible", "yes"),
        ("notifications", "maybe"),
        ("volume", 1.5),
        ("volume", -0.1),
        ("volume", True),
        ("volume", float("nan")),
        ("volume", "0.5"),
        ("appVersion", 3),
        ("appVersion", "v" * 65),
    ],
)
def test_a_bad_status_value_refuses_the_frame(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        parse_status({"type": "status", "sound": True, field: value})


def test_device_ids_and_kinds() -> None:
    assert check_device_id("前台电脑") == "前台电脑"
    assert check_kind(None) == "browser"
    assert check_kind("listener") == "listener"
    for bad in ("", "x" * 65, "a\nb"):
        with pytest.raises(ValueError, match="deviceId"):
            check_device_id(bad)
    with pytest.raises(ValueError, match="kind"):
        check_kind("toaster")


def test_a_device_lists_null_status_until_reported() -> None:
    attendance = Attendance(1, 4, "tab", "browser", 9, "小王", 1_700_000_000.0)
    assert attendance.device() == {
        "deviceId": "tab",
        "kind": "browser",
        "merchant": {"id": 9, "name": "小王"},
        "connectedAt": "2023-11-14T22:13:20.000Z",
        "lastHeardAt": "2023-11-14T22:13:20.000Z",
        "sound": None,
        "visible": None,
        "notifications": None,
        "volume": None,
        "appVersion": None,
        "ready": None,
        "wakeLock": None,
        "push": None,
        "problems": None,
    }
    attendance.status = {"sound": True, "volume": 0.25}
    device = attendance.device()
    assert (device["sound"], device["volume"], device["visible"]) == (True, 0.25, None)


def _device(device_id: str, connected: str) -> Device:
    device = Attendance(1, 1, device_id, "sdk", 1, "m", 0).device()
    device["connectedAt"] = connected
    return device


def test_a_device_listed_twice_counts_once_with_its_latest_connection() -> None:
    merged = merge_devices(
        [
            _device("b", "2026-01-01T00:00:02.000Z"),
            _device("a", "2026-01-01T00:00:05.000Z"),
            _device("a", "2026-01-01T00:00:01.000Z"),
        ]
    )
    assert [(d["deviceId"], d["connectedAt"][17:19]) for d in merged] == [("b", "02"), ("a", "05")]


def test_debounce_lets_one_announcement_per_shop_per_gap() -> None:
    debounce = Debounce(1.0)
    assert debounce.next_at() is None
    debounce.mark(1)
    debounce.mark(1)
    debounce.mark(2)
    assert debounce.due(10.0) == [1, 2]
    debounce.mark(1)
    assert debounce.due(10.5) == []
    assert debounce.next_at() == 11.0
    debounce.mark(3)
    assert debounce.due(10.6) == [3]
    assert debounce.due(11.0) == [1]
    assert debounce.next_at() is None


class Frames:
    """What a memory broker hands the hub, kept for the test."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.got: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        broker.attach(self.receive)

    def receive(self, shop_id: int, payload: bytes) -> None:
        self.got.append(orjson.loads(payload))
        self.arrived.set()

    async def next(self) -> dict[str, Any]:
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()
        return self.got[-1]


async def test_a_burst_of_changes_makes_one_presence_frame() -> None:
    broker = MemoryBroker()
    await broker.subscribe(5)
    frames = Frames(broker)
    clock = Clock()

    async def name(merchant_id: int) -> str:
        return f"staff {merchant_id}"

    presence = Presence(None, broker, names=name, debounce=1.0, clock=clock.time)
    await presence.start()
    try:
        attending = [await presence.arrive(5, f"d{n}", "browser", 3) for n in range(4)]
        presence.depart(attending[0])
        presence.depart(attending[0])
        frame = await frames.next()
        assert (frame["type"], frame["shopId"], frame["online"]) == ("presence", 5, 3)
        assert [d["deviceId"] for d in frame["devices"]] == ["d1", "d2", "d3"]
        assert frame["devices"][0]["merchant"] == {"id": 3, "name": "staff 3"}

        presence.hear(attending[1], '{"type": "status", "sound": true}')
        presence.hear(attending[1], '{"type": "status", "volume": 9}')
        presence.hear(attending[1], "not json")
        clock.advance(1.0)
        frame = await frames.next()
        assert len(frames.got) == 2
        assert [d["sound"] for d in frame["devices"]] == [True, None, None]
        assert await presence.online([5, 6]) == {5: 3, 6: 0}
    finally:
        await presence.close()


def test_the_listener_prints_a_line_when_devices_come_and_go() -> None:
    out = io.StringIO()
    listener = Listener(client=None, out=out, colour=False)  # type: ignore[arg-type]

    def event(*devices: tuple[str, str]) -> PresenceEvent:
        return PresenceEvent(1, len(devices), tuple({"deviceId": d, "kind": k} for d, k in devices))

    for shown in (
        event(("listener-1", "listener")),
        event(("listener-1", "listener")),
        event(("前台电脑", "browser"), ("listener-1", "listener")),
        event(("listener-1", "listener")),
    ):
        asyncio.run(listener.show(shown))
    assert out.getvalue().splitlines() == [
        "1 device online: listener-1 (listener)",
        "2 devices online: 前台电脑 (browser), listener-1 (listener)",
        "1 device online: listener-1 (listener)",
    ]
    assert describe_devices(event()) == "0 devices online"
