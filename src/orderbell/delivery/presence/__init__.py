"""Presence: which consoles of each shop are connected, across every server process.

``registry`` holds the devices of this process and the ``Presence`` the
server uses; ``redis`` shares them between processes. ``create_presence``
picks the store from the broker URL, the way ``orderbell.broker`` picks the
broker, and imports the Redis store only when it is asked for.
"""

from __future__ import annotations

import os
import uuid

from orderbell.broker import Broker
from orderbell.delivery.presence.registry import DeviceStore, NameLookup, Presence


def create_presence(
    broker_url: str,
    broker: Broker,
    *,
    prefix: str = "orderbell",
    ttl: float = 40.0,
    timeout: float = 3.0,
    debounce: float = 1.0,
    names: NameLookup | None = None,
) -> Presence:
    """The presence for ``broker_url``, chosen the way the broker is.

    ``memory://`` keeps devices in this process; ``redis://`` / ``rediss://``
    shares them through Redis, where a process's devices vanish ``ttl``
    seconds after its last heartbeat round.
    """
    scheme = broker_url.split("://", 1)[0].lower()
    store: DeviceStore | None = None
    process = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    if scheme in ("redis", "rediss"):
        from orderbell.delivery.presence.redis import RedisStore

        store = RedisStore(broker_url, prefix=prefix, process=process, ttl=ttl, timeout=timeout)
    return Presence(store, broker, names=names, debounce=debounce, process=process)
