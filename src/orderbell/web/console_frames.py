"""What a protocol-2 console says, routed by ``type`` in one place.

A console's text frames come from two paths (the ASGI endpoint while it
catches up, the live console afterwards); both hand them here. A ``status``
frame goes to presence (the device's state), an ``ack`` frame to the alert
acks (when an alert was first shown or rung). Anything else is ignored, as
the original ignored every frame from a console. A frame that is not JSON,
or a ``status`` or ``ack`` with a bad value, is ignored too: the console
stays connected, and one log line per device says why (a console that keeps
sending bad frames does not fill the log; its frame budget bounds the rest).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from orderbell.delivery.presence.registry import Attendance, Presence
from orderbell.services.alert_acks import AlertAcks

log = logging.getLogger(__name__)

#: Devices whose bad frames were logged, remembered at most this many at a time.
MAX_LOGGED = 10_000


class ConsoleFrames:
    """Routes a console's text frames to presence and the alert acks."""

    def __init__(self, presence: Presence | None, acks: AlertAcks | None) -> None:
        self._presence = presence
        self._acks = acks
        # (process-local serial) of devices already logged for a bad frame.
        self._logged: set[int] = set()

    def hear(self, device: Attendance, text: str) -> None:
        """A whole text frame of a protocol-2 console (``device``)."""
        if device.gone:
            return
        try:
            frame: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._bad(device, "a text frame that is not JSON")
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        try:
            if kind == "status" and self._presence is not None:
                self._presence.hear_status(device, frame)
            elif kind == "ack" and self._acks is not None:
                self._acks.hear(device.shop_id, frame)
        except ValueError as exc:
            self._bad(device, f"a {kind} frame: {exc}")

    def _bad(self, device: Attendance, what: str) -> None:
        if device.serial in self._logged:
            return
        if len(self._logged) >= MAX_LOGGED:
            self._logged.clear()
        self._logged.add(device.serial)
        log.info("ignoring %s from device %r (shop %s)", what, device.device_id, device.shop_id)
