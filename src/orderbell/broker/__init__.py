"""The broker: carries committed alerts from the process that made them to every hub.

One interface, chosen by URL: ``memory://`` (one process, the embedded
default). The implementation
module is imported only when its scheme is asked for.
"""

from __future__ import annotations

from orderbell.broker.base import Broker, Receiver

__all__ = ["Broker", "Receiver", "create_broker"]


def create_broker(url: str) -> Broker:
    """The broker for ``url``.

    Raises:
        ValueError: the scheme is not one orderbell knows.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from orderbell.broker.memory import MemoryBroker

        return MemoryBroker()
    raise ValueError(f"unknown broker URL scheme {scheme!r}: use memory://")
