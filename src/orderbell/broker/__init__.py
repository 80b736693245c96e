"""The broker: carries committed alerts from the process that made them to every hub.

One interface, chosen by URL: ``memory://`` (one process, the embedded
default) or ``redis://`` / ``rediss://`` (several processes sharing a Redis
server). The implementation module is imported only when its scheme is
asked for, so the embedded default never imports a Redis client.
"""

from __future__ import annotations

from orderbell.broker.base import Broker, Receiver, ReconnectHook

__all__ = ["Broker", "Receiver", "ReconnectHook", "create_broker"]


def create_broker(
    url: str,
    *,
    channel_prefix: str = "orderbell",
    health_check_interval: float = 5.0,
    timeout: float = 3.0,
    reconnect_max: float = 10.0,
) -> Broker:
    """The broker for ``url``.

    The keyword options apply to the Redis broker (see
    ``orderbell.broker.redis.RedisBroker``); the in-process broker has none.

    Raises:
        ValueError: the scheme is not one orderbell knows, or an option is out of range.
        ImportError: the scheme's client library is not installed; the message
            says what to install.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from orderbell.broker.memory import MemoryBroker

        return MemoryBroker()
    if scheme in ("redis", "rediss"):
        from orderbell.broker.redis import Backoff, RedisBroker

        return RedisBroker(
            url,
            channel_prefix=channel_prefix,
            health_check_interval=health_check_interval,
            timeout=timeout,
            backoff=Backoff(initial=min(0.1, reconnect_max), cap=reconnect_max),
        )
    raise ValueError(f"unknown broker URL scheme {scheme!r}: use memory://, redis:// or rediss://")
