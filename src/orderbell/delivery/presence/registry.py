"""Presence: which consoles of a shop are connected, across every server process.

Each connected console is a *device* of its shop: the id it chose (its
``sid`` or a ``deviceId`` parameter), its kind, the merchant who logged in,
when it connected and was last heard, and what it says of itself in
protocol-2 ``status`` frames (sound, visibility, notifications, volume, app
version). ``Presence`` keeps this process's devices and reads every
process's from a ``DeviceStore``: in-process (``memory://``) or Redis.

Nothing here runs on the alert fan-out path. Devices arrive and leave with
their consoles; changes are written in one batch by a background task, which
also tells the shop's protocol-2 consoles through the broker (a ``presence``
control frame, at most one per shop per ``debounce`` seconds). Once per
heartbeat the process refreshes its liveness and its devices' last-heard
time in one write for all its consoles (``beat``). docs/decisions/presence.md
explains how the devices of a process that died disappear.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

import orjson

from orderbell.broker import Broker
from orderbell.protocol import control

log = logging.getLogger(__name__)

#: The kinds of console a device can be; ``browser`` unless it says otherwise.
KINDS = ("browser", "listener", "sdk")
DEFAULT_KIND = "browser"
#: What ``notifications`` may say (the browser's Notification.permission).
NOTIFICATIONS = ("granted", "denied", "default")
#: The longest ``deviceId`` and ``appVersion`` taken.
MAX_DEVICE_ID = 64
MAX_APP_VERSION = 64
#: Status fields, in the order a device lists them; null until reported.
STATUS_FIELDS = (
    "sound",
    "visible",
    "notifications",
    "volume",
    "appVersion",
    "ready",
    "wakeLock",
    "push",
    "problems",
)
#: What a console may name among ``problems``: the readiness checks that failed.
READINESS_PROBLEMS = ("sound", "volume", "notifications", "push", "wakeLock", "connection")

Kind = Literal["browser", "listener", "sdk"]


class MerchantRef(TypedDict):
    """Who logged in on a device."""

    id: int
    name: str


class Device(TypedDict):
    """One connected console as the shop sees it (``GET /admin/shop/devices``)."""

    deviceId: str
    kind: str
    merchant: MerchantRef
    connectedAt: str
    lastHeardAt: str
    sound: bool | None
    visible: bool | None
    notifications: str | None
    volume: float | None
    appVersion: str | None
    ready: bool | None
    wakeLock: bool | None
    push: bool | None
    problems: list[str] | None


def _iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def check_device_id(value: str) -> str:
    """``value`` as a device id.

    Raises:
        ValueError: empty, longer than ``MAX_DEVICE_ID`` or with control characters.
    """
    if not value or len(value) > MAX_DEVICE_ID or not value.isprintable():
        raise ValueError(f"deviceId must be 1 to {MAX_DEVICE_ID} printable characters")
    return value


def check_kind(value: str | None) -> str:
    """``value`` as a device kind (``DEFAULT_KIND`` when None).

    Raises:
        ValueError: not one of ``KINDS``.
    """
    if value is None:
        return DEFAULT_KIND
    if value not in KINDS:
        raise ValueError("kind must be browser, listener or sdk")
    # The constant, not the query's copy: thousands of devices share it.
    return KINDS[KINDS.index(value)]


def parse_status(frame: dict[str, Any]) -> dict[str, Any]:
    """The status fields a console reported in a ``status`` frame (only those present).

    Unknown fields are ignored. Raises ValueError, naming the field, when a
    known one has a value of the wrong type or out of range: the whole frame
    is then refused.
    """
    status: dict[str, Any] = {}
    for name in ("sound", "visible", "ready", "wakeLock", "push"):
        if name in frame:
            value = frame[name]
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            status[name] = value
    if "notifications" in frame:
        value = frame["notifications"]
        if value not in NOTIFICATIONS:
            raise ValueError("notifications must be granted, denied or default")
        status["notifications"] = value
    if "volume" in frame:
        value = frame["volume"]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= 1
        ):
            raise ValueError("volume must be a number from 0 to 1")
        status["volume"] = float(value)
    if "appVersion" in frame:
        value = frame["appVersion"]
        if not isinstance(value, str) or len(value) > MAX_APP_VERSION:
            raise ValueError(f"appVersion must be a string of at most {MAX_APP_VERSION} characters")
        status["appVersion"] = value
    if "problems" in frame:
        value = frame["problems"]
        if (
            not isinstance(value, list)
            or len(value) > len(READINESS_PROBLEMS)
            or any(p not in READINESS_PROBLEMS for p in value)
        ):
            raise ValueError("problems must be a list of: " + ", ".join(READINESS_PROBLEMS))
        # The constants, not the frame's copies; once each, in the checks' order.
        status["problems"] = [p for p in READINESS_PROBLEMS if p in value]
    return status


class Attendance:
    """One console of this process as a device (what ``Presence.arrive`` returns).

    Kept small: every connected console holds one.
    """

    __slots__ = (
        "connected_at",
        "device_id",
        "gone",
        "kind",
        "last_heard",
        "merchant_id",
        "merchant_name",
        "serial",
        "shop_id",
        "status",
    )

    def __init__(
        self,
        serial: int,
        shop_id: int,
        device_id: str,
        kind: str,
        merchant_id: int,
        merchant_name: str,
        now: float,
    ) -> None:
        #: Unique in its process: the store names the connection by it.
        self.serial = serial
        self.shop_id = shop_id
        self.device_id = device_id
        self.kind = kind
        self.merchant_id = merchant_id
        self.merchant_name = merchant_name
        self.connected_at = now
        self.last_heard = now
        self.status: dict[str, Any] | None = None
        self.gone = False

    def device(self) -> Device:
        """The device as listed."""
        status = self.status or {}
        return {
            "deviceId": self.device_id,
            "kind": self.kind,
            "merchant": {"id": self.merchant_id, "name": self.merchant_name},
            "connectedAt": _iso(self.connected_at),
            "lastHeardAt": _iso(self.last_heard),
            "sound": status.get("sound"),
            "visible": status.get("visible"),
            "notifications": status.get("notifications"),
            "volume": status.get("volume"),
            "appVersion": status.get("appVersion"),
            "ready": status.get("ready"),
            "wakeLock": status.get("wakeLock"),
            "push": status.get("push"),
            "problems": status.get("problems"),
        }


def merge_devices(devices: Iterable[Device]) -> list[Device]:
    """One entry per device id (the latest connection wins: a console that
    reconnected elsewhere may briefly be listed by two processes), oldest
    connection first."""
    latest: dict[str, Device] = {}
    for device in devices:
        seen = latest.get(device["deviceId"])
        if seen is None or device["connectedAt"] >= seen["connectedAt"]:
            latest[device["deviceId"]] = device
    return sorted(latest.values(), key=lambda d: (d["connectedAt"], d["deviceId"]))


def presence_frame(shop_id: int, devices: list[Device]) -> bytes:
    """The ``presence`` control frame of a shop's device list."""
    return control("presence", shopId=shop_id, online=len(devices), devices=devices)


class Debounce:
    """Which shops' news may go out now: at most one announcement per shop per ``gap`` seconds.

    ``mark`` a shop when its devices change; ``due(now)`` gives the marked
    shops whose last announcement is ``gap`` or more ago (and counts them as
    announced now); ``next_at`` is when the next held-back shop is due.
    """

    def __init__(self, gap: float) -> None:
        self._gap = gap
        self._pending: set[int] = set()
        self._last: dict[int, float] = {}

    def mark(self, shop_id: int) -> None:
        """The shop's device list changed."""
        self._pending.add(shop_id)

    def due(self, now: float) -> list[int]:
        """The marked shops that may be announced at ``now``, unmarked."""
        gap = self._gap
        ready = [s for s in self._pending if now - self._last.get(s, -math.inf) >= gap]
        for shop_id in ready:
            self._pending.discard(shop_id)
            self._last[shop_id] = now
        # Shops announced longer than ``gap`` ago need no memory.
        if len(self._last) > 2 * len(self._pending) + 64:
            self._last = {s: t for s, t in self._last.items() if now - t < gap}
        return sorted(ready)

    def next_at(self) -> float | None:
        """When the earliest held-back shop is due (None: nothing held back)."""
        if not self._pending:
            return None
        return min(self._last.get(s, -math.inf) for s in self._pending) + self._gap


class DeviceStore(ABC):
    """Where every process's devices are kept, for all processes to read."""

    @abstractmethod
    async def start(self) -> None:
        """Connect; called once at startup."""

    @abstractmethod
    async def write(self, changed: Sequence[Attendance], gone: Sequence[Attendance]) -> None:
        """Store ``changed`` devices of this process and remove ``gone`` ones, in one batch."""

    @abstractmethod
    async def refresh(self, local: Sequence[Attendance]) -> None:
        """Say this process is alive and store all its devices' last-heard (once per heartbeat)."""

    @abstractmethod
    async def read(self, shop_ids: Sequence[int]) -> dict[int, list[Device]]:
        """The devices of each shop, across processes (live processes only)."""

    @abstractmethod
    async def heard(self, shop_ids: Sequence[int]) -> set[int]:
        """The shops of ``shop_ids`` with at least one device online (live
        processes only), without reading the devices themselves."""

    @abstractmethod
    async def close(self, local: Sequence[Attendance]) -> None:
        """Remove this process's devices at once (clean shutdown) and disconnect."""


def _latest(attending: Iterable[Attendance]) -> list[Attendance]:
    # One per device id before any JSON is built: consoles sharing an id
    # (the original page's fixed sid, thousands of times) cost one entry.
    latest: dict[str, Attendance] = {}
    for attendance in attending:
        seen = latest.get(attendance.device_id)
        if seen is None or attendance.connected_at >= seen.connected_at:
            latest[attendance.device_id] = attendance
    return list(latest.values())


class MemoryStore(DeviceStore):
    """The devices of the one process there is (``memory://``)."""

    def __init__(self, local: Callable[[int], Iterable[Attendance]]) -> None:
        self._local = local

    async def start(self) -> None:
        """Nothing to open."""

    async def write(self, changed: Sequence[Attendance], gone: Sequence[Attendance]) -> None:
        """Nothing to write: the process's own registry is the store."""

    async def refresh(self, local: Sequence[Attendance]) -> None:
        """Nothing to refresh."""

    async def read(self, shop_ids: Sequence[int]) -> dict[int, list[Device]]:
        """The devices of each shop in this process."""
        return {s: [a.device() for a in _latest(self._local(s))] for s in shop_ids}

    async def heard(self, shop_ids: Sequence[int]) -> set[int]:
        """The shops with a console in this process."""
        return {s for s in shop_ids if any(True for _ in self._local(s))}

    async def close(self, local: Sequence[Attendance]) -> None:
        """Nothing to close."""


NameLookup = Callable[[int], Awaitable[str | None]]


class Presence:
    """The devices of every shop: this process's, and through the store everyone's.

    Args:
        store: where devices are shared between processes.
        broker: where ``presence`` frames are published to the shop's consoles.
        names: looks up a merchant's name (cached here) for the device list.
        debounce: seconds between two ``presence`` frames of one shop.
        clock: the time in seconds since the epoch.
    """

    def __init__(
        self,
        store: DeviceStore | None,
        broker: Broker,
        *,
        names: NameLookup | None = None,
        debounce: float = 1.0,
        clock: Callable[[], float] = time.time,
        process: str | None = None,
    ) -> None:
        self.store: DeviceStore = store if store is not None else MemoryStore(self.local)
        self._broker = broker
        self._names = names
        self._name_cache: dict[int, str] = {}
        self._clock = clock
        #: This process's name in the store (unique per run).
        self.process = process or f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._serial = itertools.count(1)
        # A set per shop: the smallest way to hold thousands of consoles.
        self._local: dict[int, set[Attendance]] = {}
        self._changed: dict[int, Attendance] = {}
        self._gone: dict[int, Attendance] = {}
        self._debounce = Debounce(debounce)
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._round: asyncio.Task[None] | None = None
        self._closed = False
        # Held around every write to the store: closing waits for the one in
        # flight, so a late write cannot bring a stopped process back to life.
        self._writing = asyncio.Lock()
        #: Heartbeat rounds written (for tests and metrics).
        self.rounds = 0

    # -- this process's consoles ----------------------------------------------

    def local(self, shop_id: int) -> Iterable[Attendance]:
        """This process's devices of one shop."""
        return self._local.get(shop_id, ())

    def count(self) -> int:
        """How many devices this process holds."""
        return sum(len(d) for d in self._local.values())

    async def arrive(self, shop_id: int, device_id: str, kind: str, merchant_id: int) -> Attendance:
        """A console of ``shop_id`` connected here: it is a device until ``depart``."""
        name = await self._merchant_name(merchant_id)
        attendance = Attendance(
            next(self._serial),
            shop_id,
            device_id,
            kind,
            merchant_id,
            name,
            self._clock(),
        )
        self._local.setdefault(shop_id, set()).add(attendance)
        self._changed[attendance.serial] = attendance
        self._mark(shop_id)
        return attendance

    def depart(self, attendance: Attendance) -> None:
        """The console closed: it is no device any more (once; later calls do nothing)."""
        if attendance.gone:
            return
        attendance.gone = True
        devices = self._local.get(attendance.shop_id)
        if devices is not None:
            devices.discard(attendance)
            if not devices:
                del self._local[attendance.shop_id]
        self._changed.pop(attendance.serial, None)
        self._gone[attendance.serial] = attendance
        self._mark(attendance.shop_id)

    def hear(self, attendance: Attendance, text: str) -> None:
        """A protocol-2 console sent a text frame: a ``status`` frame updates its device.

        A frame that is not JSON, not a status frame, or has a bad value is
        ignored with one log line; the console stays connected.
        """
        if attendance.gone:
            return
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            log.info("ignoring a text frame that is not JSON from device %r", attendance.device_id)
            return
        if not isinstance(frame, dict) or frame.get("type") != "status":
            return
        try:
            self.hear_status(attendance, frame)
        except ValueError as exc:
            log.info("ignoring a status frame of device %r: %s", attendance.device_id, exc)

    def hear_status(self, attendance: Attendance, frame: dict[str, Any]) -> None:
        """A ``status`` frame, already parsed (``web.console_frames`` routes it here).

        Raises:
            ValueError: a field has a bad value (see ``parse_status``); nothing changes.
        """
        self.report(attendance, parse_status(frame))

    def report(self, attendance: Attendance, status: dict[str, Any]) -> None:
        """Take what a device said of itself (fields of ``parse_status``)."""
        if attendance.gone:
            return
        attendance.last_heard = self._clock()
        merged = dict(attendance.status or {})
        merged.update(status)
        attendance.status = merged
        self._changed[attendance.serial] = attendance
        self._mark(attendance.shop_id)

    # -- every process's ------------------------------------------------------

    async def devices(self, shop_id: int) -> list[Device]:
        """The shop's devices in every process, oldest connection first."""
        found = await self.store.read([shop_id])
        return merge_devices(found.get(shop_id, []))

    async def online(self, shop_ids: Sequence[int]) -> dict[int, int]:
        """How many devices each shop has online, across processes (0 for none)."""
        ids = list(dict.fromkeys(shop_ids))
        if not ids:
            return {}
        found = await self.store.read(ids)
        return {s: len(merge_devices(found.get(s, []))) for s in ids}

    async def heard(self, shop_ids: Sequence[int]) -> set[int]:
        """The shops with at least one device online, across processes: what
        the pause of unheard shops asks every few seconds of every shop, so it
        builds no device list."""
        ids = list(dict.fromkeys(shop_ids))
        return await self.store.heard(ids) if ids else set()

    # -- background work ------------------------------------------------------

    async def start(self) -> None:
        """Connect the store and start writing and announcing changes."""
        await self.store.start()
        self._wake = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_forever())
        if self._changed or self._gone:
            self._wake.set()

    def beat(self) -> None:
        """A heartbeat of the process (the hub's loop calls it): refresh every
        local device in one write, unless the last refresh is still running."""
        if self._closed or (self._round is not None and not self._round.done()):
            return
        self._round = asyncio.get_running_loop().create_task(self.refresh())

    async def refresh(self) -> None:
        """One heartbeat round: this process is alive, its devices were heard now.

        Every console still here answered the last keepalive round (the
        silent ones are dropped by it), so the process vouches for them.
        """
        async with self._writing:
            if self._closed:
                return
            now = self._clock()
            local = [a for devices in self._local.values() for a in devices]
            for attendance in local:
                attendance.last_heard = now
            try:
                await self.store.refresh(local)
            except Exception as exc:
                log.warning("presence heartbeat round failed: %s", exc)
                return
            self.rounds += 1

    async def close(self) -> None:
        """Stop, and remove this process's devices from the store at once."""
        self._closed = True
        async with self._writing:
            for task in (self._flusher, self._round):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            # Consoles that left but were not written yet go with the rest.
            local = [a for devices in self._local.values() for a in devices]
            local.extend(self._gone.values())
            self._gone.clear()
            try:
                await self.store.close(local)
            except Exception as exc:
                log.warning("could not remove this process's devices: %s", exc)

    def _mark(self, shop_id: int) -> None:
        self._debounce.mark(shop_id)
        if self._wake is not None:
            self._wake.set()

    async def _merchant_name(self, merchant_id: int) -> str:
        name = self._name_cache.get(merchant_id)
        if name is not None:
            return name
        found = None
        if self._names is not None:
            try:
                found = await self._names(merchant_id)
            except Exception:
                log.warning("looking up merchant %s failed", merchant_id, exc_info=True)
        name = found or f"merchant {merchant_id}"
        if found is not None:
            if len(self._name_cache) > 10_000:
                self._name_cache.clear()
            self._name_cache[merchant_id] = name
        return name

    async def _flush_forever(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                async with self._writing:
                    if self._closed:
                        return
                    await self._flush()
            except Exception as exc:
                log.warning("writing or announcing devices failed: %s", exc)
            later = self._debounce.next_at()
            if later is not None:
                await asyncio.sleep(max(0.0, later - self._clock()))
                self._wake.set()

    async def _flush(self) -> None:
        changed, gone = list(self._changed.values()), list(self._gone.values())
        self._changed, self._gone = {}, {}
        if changed or gone:
            try:
                await self.store.write(changed, gone)
            except Exception:
                # Tried again with the next change; the heartbeat round
                # rewrites every local device anyway.
                for a in changed:
                    if not a.gone:
                        self._changed.setdefault(a.serial, a)
                for a in gone:
                    self._gone.setdefault(a.serial, a)
                raise
        shops = self._debounce.due(self._clock())
        if not shops:
            return
        found = await self.store.read(shops)
        await self._broker.publish_many(
            [(s, presence_frame(s, merge_devices(found.get(s, [])))) for s in shops]
        )
