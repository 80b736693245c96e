"""What the hub needs of a console: take an encoded frame without waiting."""

from __future__ import annotations

from typing import Protocol

from orderbell.delivery.frames import Frame


class Console(Protocol):
    """One connected merchant console (a browser tab, a terminal listener, the SDK).

    The hub calls ``offer`` for every frame of the console's shop. It must not
    block or await: a transport queues the frame and writes it when it can.
    """

    @property
    def shop_id(self) -> int:
        """The shop whose alerts this console receives."""
        ...

    def offer(self, frame: Frame) -> bool:
        """Queue ``frame`` for sending (a console that did not ask for control
        frames skips those); return False if the console is gone or has
        fallen too far behind, after which the hub forgets it."""
        ...
