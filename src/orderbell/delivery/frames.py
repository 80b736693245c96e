"""Frames: what travels from the broker to the hub and from the hub to consoles.

An alert frame is encoded once per alert (``encode_alert``) and the same text
goes to every console of the shop. Control frames (protocol 2 only) carry a
string ``type`` and no ``seq``: they are about the alerts, not alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from orderbell.domain.alerts import Alert
from orderbell.protocol import server_frame


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame as the hub hands it on: its text, and its seq for alerts.

    ``control`` frames go only to consoles that asked for protocol 2.
    """

    text: str
    seq: int | None
    size: int
    #: When the alert was stored (UNIX time), for latency metrics; None for control frames.
    created: float | None = None
    #: The whole WebSocket text frame (header and payload), built once for all consoles.
    wire: bytes = b""

    @property
    def control(self) -> bool:
        """True for control frames (no seq), which plain consoles do not get."""
        return self.seq is None

    @classmethod
    def parse(cls, payload: bytes) -> Frame:
        """The frame of a broker message (an encoded alert or control frame).

        Raises:
            ValueError: the payload is not a JSON object.
        """
        data = orjson.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("a frame must be a JSON object")
        seq = data.get("seq") if isinstance(data.get("type"), int) else None
        if not isinstance(seq, int):
            return cls.of(payload)
        return cls(
            payload.decode(),
            seq,
            len(payload),
            _timestamp(data.get("createdAt")),
            server_frame(payload),
        )

    @classmethod
    def of(cls, payload: bytes, seq: int | None = None) -> Frame:
        """A frame of already-known ``seq`` (None: a control frame)."""
        return cls(payload.decode(), seq, len(payload), None, server_frame(payload))


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def encode_alert(alert: Alert, **extra: Any) -> bytes:
    """The alert frame as UTF-8 JSON bytes (see ``Alert.frame``), plus ``extra`` fields."""
    frame = alert.frame()
    if extra:
        frame.update(extra)
    return orjson.dumps(frame)
