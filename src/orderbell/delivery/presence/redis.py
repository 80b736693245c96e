"""Devices shared through Redis, for several server processes.

Per shop a hash ``<prefix>:presence:shop:<id>`` maps each connection
(``<process>/<n>``) to its device as JSON. Per process a liveness key
``<prefix>:presence:process:<process>`` expires ``ttl`` seconds after the
process's last heartbeat round. Readers drop (and delete) the devices of a
process whose key is gone: a process killed without a goodbye leaves no
ghost for longer than ``ttl``.

A heartbeat round is one pipeline, one round trip, for all of a process's
consoles: the liveness key and every local device's last-heard.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson

try:
    from redis.asyncio import Redis
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "shared presence needs the Redis client: pip install 'orderbell[redis]'"
    ) from exc

from orderbell.delivery.presence.registry import Attendance, Device, DeviceStore


class RedisStore(DeviceStore):
    """Devices of every process in Redis hashes, with per-process liveness keys.

    Args:
        url: the Redis URL (the broker's).
        prefix: key prefix (the broker's channel prefix).
        process: this process's unique name.
        ttl: seconds a process's devices outlive its last heartbeat round.
        timeout: seconds for Redis to answer.
    """

    def __init__(
        self, url: str, *, prefix: str, process: str, ttl: float, timeout: float = 3.0
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._process = process
        self._ttl_ms = max(1, int(ttl * 1000))
        self._timeout = timeout
        self._alive = self._process_key(process)
        self._redis: Redis | None = None

    def _process_key(self, process: str) -> str:
        return f"{self._prefix}:presence:process:{process}"

    def _shop_key(self, shop_id: int) -> str:
        return f"{self._prefix}:presence:shop:{shop_id}"

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(
                self._url,
                socket_connect_timeout=self._timeout,
                socket_timeout=self._timeout,
                client_name=f"{self._prefix}:presence:{os.getpid()}",
            )
        return self._redis

    def _field(self, attendance: Attendance) -> str:
        return f"{self._process}/{attendance.serial}"

    def _value(self, attendance: Attendance) -> bytes:
        return orjson.dumps({"process": self._process, **attendance.device()})

    async def start(self) -> None:
        """Make the client (it connects on first use)."""
        self._client()

    async def write(self, changed: Sequence[Attendance], gone: Sequence[Attendance]) -> None:
        """Store ``changed`` and delete ``gone`` devices, with the liveness key, in one pipeline."""
        pipe = self._client().pipeline(transaction=False)
        pipe.set(self._alive, b"1", px=self._ttl_ms)
        self._put(pipe, changed)
        removed: defaultdict[int, list[str]] = defaultdict(list)
        for attendance in gone:
            removed[attendance.shop_id].append(self._field(attendance))
        for shop_id, fields in removed.items():
            pipe.hdel(self._shop_key(shop_id), *fields)
        await pipe.execute()

    async def refresh(self, local: Sequence[Attendance]) -> None:
        """The liveness key and every local device, in one pipeline (one round trip)."""
        pipe = self._client().pipeline(transaction=False)
        pipe.set(self._alive, b"1", px=self._ttl_ms)
        self._put(pipe, local)
        await pipe.execute()

    def _put(self, pipe: Any, devices: Sequence[Attendance]) -> None:
        by_shop: defaultdict[int, dict[str, bytes]] = defaultdict(dict)
        for attendance in devices:
            by_shop[attendance.shop_id][self._field(attendance)] = self._value(attendance)
        for shop_id, mapping in by_shop.items():
            pipe.hset(self._shop_key(shop_id), mapping=mapping)

    async def read(self, shop_ids: Sequence[int]) -> dict[int, list[Device]]:
        """Each shop's devices whose process is alive; ghosts are deleted on the way."""
        redis = self._client()
        pipe = redis.pipeline(transaction=False)
        for shop_id in shop_ids:
            pipe.hgetall(self._shop_key(shop_id))
        hashes: list[dict[bytes, bytes]] = await pipe.execute()
        entries: list[tuple[int, bytes, dict[str, Any]]] = []
        for shop_id, fields in zip(shop_ids, hashes, strict=True):
            for field, raw in fields.items():
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(data, dict) and isinstance(data.get("process"), str):
                    entries.append((shop_id, field, data))
        processes = sorted({data["process"] for _, _, data in entries})
        alive: set[str] = set()
        if processes:
            flags = await redis.mget([self._process_key(p) for p in processes])
            alive = {p for p, flag in zip(processes, flags, strict=True) if flag is not None}
        found: dict[int, list[Device]] = {shop_id: [] for shop_id in shop_ids}
        ghosts: defaultdict[int, list[bytes]] = defaultdict(list)
        for shop_id, field, data in entries:
            if data.pop("process") in alive:
                found[shop_id].append(data)  # type: ignore[arg-type]
            else:
                ghosts[shop_id].append(field)
        if ghosts:
            pipe = redis.pipeline(transaction=False)
            for shop_id, stale in ghosts.items():
                pipe.hdel(self._shop_key(shop_id), *stale)
            await pipe.execute()
        return found

    async def heard(self, shop_ids: Sequence[int]) -> set[int]:
        """The shops with a device of a live process: the hashes' field names
        (``<process>/<n>``) and one ``MGET`` of the processes' liveness keys."""
        redis = self._client()
        pipe = redis.pipeline(transaction=False)
        for shop_id in shop_ids:
            pipe.hkeys(self._shop_key(shop_id))
        fields: list[list[bytes]] = await pipe.execute()
        owners = {
            shop_id: {field.decode().rpartition("/")[0] for field in names}
            for shop_id, names in zip(shop_ids, fields, strict=True)
            if names
        }
        processes = sorted(set().union(*owners.values())) if owners else []
        if not processes:
            return set()
        flags = await redis.mget([self._process_key(p) for p in processes])
        alive = {p for p, flag in zip(processes, flags, strict=True) if flag is not None}
        return {shop_id for shop_id, procs in owners.items() if procs & alive}

    async def close(self, local: Sequence[Attendance]) -> None:
        """Delete this process's devices and liveness key, then disconnect."""
        if self._redis is None:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            fields: defaultdict[int, list[str]] = defaultdict(list)
            for attendance in local:
                fields[attendance.shop_id].append(self._field(attendance))
            for shop_id, names in fields.items():
                pipe.hdel(self._shop_key(shop_id), *names)
            pipe.delete(self._alive)
            await pipe.execute()
        finally:
            await self._redis.aclose()
            self._redis = None
